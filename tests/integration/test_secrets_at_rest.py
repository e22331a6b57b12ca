"""Secrets and personal data never reach the ledger's tables in clear.

An auditor with a copy of the database (events, snapshots, wrapped data keys) but without the
master key must not find a TOTP secret, a phone number, a recovery code, a texted code, a
password, an e-mail address, an IP address or a user agent in it.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp

from ledger.store import LedgerStore
from tests.conftest import Ledger

EMAIL = "grace.hopper@acme.test"
PASSWORD = "s3cret-Passw0rd"
PHONE = "+14155550123"
IP = "203.0.113.9"
USER_AGENT = "Mozilla/5.0 TestAgent"
FROM_HER_BROWSER = ("--ip", IP, "--user-agent", USER_AGENT)


@dataclass
class Secrets:
    """Everything the user was shown or typed, kept by the test to look for later."""

    totp_secret: str = ""
    sms_codes: list[str] = field(default_factory=list)
    recovery_codes: list[str] = field(default_factory=list)

    def needles(self) -> dict[str, str]:
        found = {
            "TOTP secret": self.totp_secret,
            "phone number": PHONE,
            "phone number without country code": PHONE.removeprefix("+1"),
            "password": PASSWORD,
            "e-mail address": EMAIL,
            "e-mail local part": EMAIL.split("@")[0],
            "IP address": IP,
            "user agent": USER_AGENT,
            "user agent product": "TestAgent",
        }
        for number, code in enumerate(self.sms_codes, 1):
            found[f"SMS code #{number}"] = code
        for number, code in enumerate(self.recovery_codes, 1):
            found[f"recovery code #{number}"] = code
            found[f"recovery code #{number} without dashes"] = code.replace("-", "")
        return found


# ---- helpers -----------------------------------------------------------------------------


def act(ledger: Ledger, *args: str, stdin: str | None = None) -> Any:
    """Run a command as Grace, from her browser, 30 seconds after the previous one."""
    return ledger.later(seconds=30).ok(*args, *FROM_HER_BROWSER, stdin=stdin)


def last_texted_code(ledger: Ledger) -> str:
    newest = ledger.ok("sms", "outbox")[0]
    assert newest["to"] == PHONE
    match = re.search(r"\b(\d{6})\b", newest["body"])
    assert match, newest
    return match.group(1)


def live_through_every_secret(ledger: Ledger, store: LedgerStore) -> Secrets:
    kept = Secrets()
    act(ledger, "org", "create", "acme")
    act(ledger, "user", "create", EMAIL, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")

    kept.totp_secret = act(ledger, "mfa", "totp", "enrol", EMAIL)["secret"]
    code = pyotp.TOTP(kept.totp_secret).at(ledger.now + timedelta(seconds=30))  # when act runs
    kept.recovery_codes += act(ledger, "mfa", "totp", "confirm", EMAIL, code)["recovery_codes"]

    act(ledger, "mfa", "sms", "enrol", EMAIL, "--phone", PHONE)
    kept.sms_codes.append(last_texted_code(ledger))
    act(ledger, "mfa", "sms", "confirm", EMAIL, kept.sms_codes[-1])
    act(ledger, "mfa", "sms", "send-code", EMAIL)
    kept.sms_codes.append(last_texted_code(ledger))
    act(ledger, "mfa", "sms", "verify", EMAIL, kept.sms_codes[-1])

    kept.recovery_codes += act(ledger, "mfa", "recovery-codes", "regenerate", EMAIL)[
        "recovery_codes"
    ]
    act(ledger, "mfa", "recovery-codes", "use", EMAIL, kept.recovery_codes[-1])

    # Long histories are snapshotted; take one now so that snapshots are inspected too.
    store.app.take_snapshot(store.account_id(EMAIL))

    assert len(kept.recovery_codes) == 20
    assert len(kept.sms_codes) == 2
    return kept


def tables_at_rest(store: LedgerStore) -> dict[str, str]:
    """What is kept at rest, and in which table (the library names its tables `ledger_*` on
    PostgreSQL and `stored_*` on SQLite)."""
    assert store.app.snapshots is not None
    return {
        "events": store.app.recorder.events_table_name,  # type: ignore[attr-defined]
        "snapshots": store.app.snapshots.recorder.events_table_name,  # type: ignore[attr-defined]
        "data keys": "ledger_data_keys",
    }


def raw_rows(store: LedgerStore, table: str) -> list[bytes]:
    """Every row of `table` exactly as stored, each column as bytes."""
    with store.database.transaction() as tx:
        rows = tx.fetchall(f"SELECT * FROM {table}")
    return [b"\x00".join(as_bytes(value) for value in row) for row in rows]


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def found_in_clear(store: LedgerStore, needles: dict[str, str]) -> list[str]:
    """'<what> in <events|snapshots|data keys>' for each needle present in any row, ignoring
    case."""
    leaks = []
    for kept, table in tables_at_rest(store).items():
        rows = [row.lower() for row in raw_rows(store, table)]
        for what, needle in needles.items():
            if any(needle.lower().encode() in row for row in rows):
                leaks.append(f"{what} in {kept}")
    return leaks


# ---- tests ---------------------------------------------------------------------------------


def test_no_secret_or_personal_data_is_stored_in_clear(ledger: Ledger, store: LedgerStore) -> None:
    secrets = live_through_every_secret(ledger, store)

    for kept, table in tables_at_rest(store).items():
        assert raw_rows(store, table), f"no {kept} ({table}): nothing would be inspected"
    assert found_in_clear(store, secrets.needles()) == []


def test_the_inspection_does_see_what_is_stored_in_clear(
    ledger: Ledger, store: LedgerStore
) -> None:
    """The search would catch a leak: the organisation's slug and sealed values are visible."""
    live_through_every_secret(ledger, store)
    in_clear = {
        "organisation slug": "acme",
        "event type": "Account.TotpEnrolmentStarted",
        "sealed value": "sealed:v1:",
    }
    found = found_in_clear(store, in_clear)
    assert "organisation slug in events" in found
    assert "event type in events" in found
    assert "sealed value in events" in found
    assert "sealed value in snapshots" in found


def test_what_is_sealed_is_kept_not_dropped(ledger: Ledger, store: LedgerStore) -> None:
    """Sealed is not lost: the owner still sees her IP address, number and e-mail."""
    live_through_every_secret(ledger, store)

    audit = ledger.ok("audit", EMAIL)
    assert {entry["ip"] for entry in audit} == {IP}
    assert all(entry["actor"] == EMAIL for entry in audit)
    assert ledger.ok("mfa", "status", EMAIL)["sms"] == {"enabled": True, "phone": "+1•••••0123"}


def test_the_master_key_file_is_readable_by_its_owner_only(
    ledger: Ledger, store: LedgerStore, backend: str
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", EMAIL, "--org", "acme")  # seals her e-mail: the key is in use

    key_file = store.key_places.master_key
    if backend == "sqlite":
        assert store.location.sqlite_path is not None
        assert key_file == Path(f"{store.location.sqlite_path}.master-key")
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
