"""Erasure: an admin forgets an account, and nothing of its owner can be read anywhere after.

Ada lives a full life in the ledger (password, authenticator app, SMS, sign-ins from two
addresses with a browser of her own, workspace roles granted by an admin, an API key); Bob,
her colleague, lives a smaller one. Then the admin erases Ada. Her data keys are destroyed, so
every value sealed for her reads `[erased]`, the ledger still verifies, and Bob is untouched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pyotp
import pytest
from argon2 import PasswordHasher, profiles

from ledger import passwords
from ledger.store import LedgerStore
from tests.conftest import Ledger

ADMIN = "admin@acme.test"
ADA = "ada.lovelace@acme.test"
BOB = "bob.babbage@acme.test"
GLOBEX_ADMIN = "boss@globex.test"
PASSWORD = "analytical-engine-1843"
BOB_PASSWORD = "difference-engine-1822"

ADA_HOME_IP = "81.2.69.160"  # the bundled GeoIP database places it in Gamlingay
ADA_MOBILE_IP = "2001:db8::5"
ADA_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0 AdaEngine/1843"
)
ADA_PHONE = "+14155550123"
ADMIN_IP = "203.0.113.77"
BOB_IP = "198.51.100.23"
BOB_USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15"
BOB_PHONE = "+14155550199"
ERASED = "[erased]"

FROM_ADAS_HOME = ("--ip", ADA_HOME_IP, "--user-agent", ADA_USER_AGENT)
FROM_ADAS_PHONE = ("--ip", ADA_MOBILE_IP, "--user-agent", ADA_USER_AGENT)
BY_THE_ADMIN = ("--actor", ADMIN, "--ip", ADMIN_IP)

# What must be gone, however it was stored (looked for case-insensitively).
ADAS_PERSONAL_DATA = {
    "e-mail address": ADA,
    "e-mail local part": ADA.split("@")[0],
    "home IP address": ADA_HOME_IP,
    "mobile IP address": ADA_MOBILE_IP,
    "mobile IP address, exploded": "2001:0db8:0000:0000:0000:0000:0000:0005",
    "user agent": ADA_USER_AGENT,
    "user agent product": "AdaEngine/1843",
    "phone number": ADA_PHONE,
    "phone digits": ADA_PHONE.removeprefix("+1"),
    "masked phone number": "•••••0123",
    "location of her home IP address": "Gamlingay",
}
BOBS_PERSONAL_DATA = {"e-mail address": BOB, "IP address": BOB_IP}


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Erasure does not depend on argon2's cost; sign-ins stay real, only cheaper."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


# ---- the story -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    ada: UUID
    bob: UUID
    session_token: str  # from Ada's first sign-in
    api_key: str


def texted_code(ledger: Ledger, phone: str) -> str:
    newest = ledger.ok("sms", "outbox")[0]
    assert newest["to"] == phone, newest
    match = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", newest["body"])
    assert match, newest
    return match.group(0)


def sign_in(
    ledger: Ledger, email: str, *options: str, password: str = "", api_key: str | None = None
) -> tuple[int, dict[str, Any]]:
    """`login --json` with a password or an API key: its exit code and document."""
    if api_key is None:
        args, secret = ("--method", "password", "--password-stdin"), password
    else:
        args, secret = ("--method", "api-key", "--api-key-stdin"), api_key
    result = ledger.run("login", email, *args, *options, "--json", stdin=secret + "\n")
    return result.exit_code, json.loads(result.stdout)


def signed_in(ledger: Ledger, email: str, *options: str, **secret: str) -> str:
    """A sign-in that must succeed; the session token."""
    exit_code, document = sign_in(ledger, email, *options, **secret)
    assert (exit_code, document["outcome"]) == (0, "success"), document
    return str(document["session_token"])


def live_through_it(ledger: Ledger, store: LedgerStore) -> Story:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", GLOBEX_ADMIN, "--org", "globex")
    ledger.ok("org", "admin", "add", "globex", GLOBEX_ADMIN)

    # Ada: a password, an authenticator app and SMS, set up from home.
    ledger.later(minutes=1).ok(
        "user", "create", ADA, "--org", "acme", "--password-stdin", *FROM_ADAS_HOME,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    totp = pyotp.TOTP(ledger.ok("mfa", "totp", "enrol", ADA, *FROM_ADAS_HOME)["secret"])
    ledger.later(seconds=20).ok("mfa", "totp", "confirm", ADA, totp.at(ledger.now), *FROM_ADAS_HOME)
    ledger.ok("mfa", "sms", "enrol", ADA, "--phone", ADA_PHONE, *FROM_ADAS_HOME)
    ledger.ok("mfa", "sms", "confirm", ADA, texted_code(ledger, ADA_PHONE), *FROM_ADAS_HOME)

    # She signs in from home with her app, from her phone with a texted code, and once mistypes.
    ledger.later(minutes=1)
    token = signed_in(
        ledger, ADA, *FROM_ADAS_HOME, "--totp", totp.at(ledger.now), password=PASSWORD
    )
    ledger.later(hours=2).ok("mfa", "sms", "send-code", ADA, *FROM_ADAS_PHONE)
    code = texted_code(ledger, ADA_PHONE)
    signed_in(ledger, ADA, *FROM_ADAS_PHONE, "--sms", code, password=PASSWORD)
    mistyped = sign_in(ledger.later(minutes=5), ADA, *FROM_ADAS_PHONE, password="wrong-password")
    assert mistyped[1].pop("error")["code"] == "invalid_password", mistyped
    assert mistyped == (1, {"outcome": "failed", "reason": "invalid_password"})

    # The admin gives her workspaces; she makes an API key and uses it.
    ledger.later(minutes=1).ok(
        "workspace", "grant", ADA, "design", "--role", "member", *BY_THE_ADMIN
    )
    ledger.ok("workspace", "grant", ADA, "billing", "--role", "viewer", *BY_THE_ADMIN)
    api_key = ledger.ok("api-keys", "create", ADA, "--name", "deploys", *FROM_ADAS_PHONE)["key"]
    signed_in(ledger.later(minutes=1), ADA, *FROM_ADAS_HOME, api_key=api_key)

    # Bob: a password, a phone being enrolled, a sign-in from his own address.
    ledger.later(minutes=1).ok(
        "user", "create", BOB, "--org", "acme", "--password-stdin",
        "--ip", BOB_IP, "--user-agent", BOB_USER_AGENT, stdin=BOB_PASSWORD + "\n",
    )  # fmt: skip
    ledger.ok("mfa", "sms", "enrol", BOB, "--phone", BOB_PHONE, "--ip", BOB_IP)
    signed_in(ledger, BOB, "--ip", BOB_IP, "--user-agent", BOB_USER_AGENT, password=BOB_PASSWORD)
    ledger.ok("workspace", "grant", BOB, "design", "--role", "member", *BY_THE_ADMIN)

    # Long histories are snapshotted; take one so that snapshots are looked at too.
    store.app.take_snapshot(store.account_id(ADA))
    return Story(store.account_id(ADA), store.account_id(BOB), token, api_key)


@pytest.fixture
def story(ledger: Ledger, store: LedgerStore) -> Story:
    return live_through_it(ledger, store)


def erase_ada(ledger: Ledger) -> None:
    erased = ledger.later(days=1).ok(
        "erase", ADA, *BY_THE_ADMIN, "--user-agent", "AdminConsole/2.0"
    )
    assert erased == {"ok": True, "erased": ADA}


@pytest.fixture
def erased(ledger: Ledger, story: Story) -> Story:
    """The story, then Ada erased by the admin of acme."""
    erase_ada(ledger)
    return story


# ---- looking at every row of every table -----------------------------------------------------


def all_tables(store: LedgerStore) -> list[str]:
    with store.database.transaction() as tx:
        if store.database.postgres:
            rows = tx.fetchall(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        else:
            rows = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return sorted(str(row[0]) for row in rows)


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def raw_rows(store: LedgerStore, table: str) -> list[bytes]:
    """Every row as stored, every column as bytes (text as UTF-8), lower-cased."""
    with store.database.transaction() as tx:
        rows = tx.fetchall(f"SELECT * FROM {table}")
    return [b"\x00".join(as_bytes(value) for value in row).lower() for row in rows]


def where_found(
    store: LedgerStore, needles: dict[str, str], tables: list[str] | None = None
) -> dict[str, list[str]]:
    """For each needle present in some row (of every table, or of `tables`): where it is."""
    found: dict[str, list[str]] = {}
    for table in all_tables(store) if tables is None else tables:
        rows = raw_rows(store, table)
        for what, needle in needles.items():
            if any(needle.lower().encode() in row for row in rows):
                found.setdefault(what, []).append(table)
    return found


def read_model_tables(store: LedgerStore) -> list[str]:
    return [table for table in all_tables(store) if table.startswith("rm_")]


def data_key_owners(store: LedgerStore) -> set[str]:
    """Owners holding a live data key (an erased owner keeps only an empty tombstone)."""
    with store.database.transaction() as tx:
        rows = tx.fetchall("SELECT owner_id, wrapped_key FROM ledger_data_keys")
    return {str(owner) for owner, wrapped in rows if bytes(wrapped)}


def leaks(document: Any) -> list[str]:
    """Which of Ada's personal data a command's output shows."""
    text = json.dumps(document, ensure_ascii=False).lower()
    return [what for what, needle in ADAS_PERSONAL_DATA.items() if needle.lower() in text]


# ---- who may erase ---------------------------------------------------------------------------


def error_code(ledger: Ledger, *command: str) -> str:
    """The refusal's code (the command must exit 1)."""
    return str(ledger.refused(*command)["error"]["code"])


def test_only_an_admin_of_her_organisation_may_erase_her_and_a_refusal_records_nothing(
    ledger: Ledger, store: LedgerStore, story: Story
) -> None:
    before = ledger.event_count()
    not_admins = {
        BOB: "admin_required",  # a colleague
        ADA: "admin_required",  # herself
        GLOBEX_ADMIN: "admin_required",  # an admin, of another organisation
        "nobody@acme.test": "unknown_user",
    }

    ledger.later(days=1)
    refusals = {actor: error_code(ledger, "erase", ADA, "--actor", actor) for actor in not_admins}

    assert refusals == not_admins
    assert ledger.event_count() == before
    assert str(story.ada) in data_key_owners(store)
    assert ledger.ok("mfa", "status", ADA)["sms"]["phone"] == "+1•••••0123"
    assert "account_erased" not in [entry["action"] for entry in ledger.ok("audit", ADA)]
    ledger.ok("workspace", "grant", ADA, "ops", "--role", "viewer", *BY_THE_ADMIN)


# ---- nothing of hers is left anywhere --------------------------------------------------------


def test_afterwards_no_row_of_any_table_holds_her_personal_data_and_bob_keeps_his(
    ledger: Ledger, store: LedgerStore, story: Story
) -> None:
    # The inspection does see personal data where it is kept in clear (read models, outbox).
    ledger.ok("projections", "run")  # as the worker does on PostgreSQL
    before = where_found(store, ADAS_PERSONAL_DATA)
    for what in ("e-mail address", "home IP address", "mobile IP address", "phone number"):
        assert what in before, f"her {what} is nowhere to be found even before erasure"
    tables = all_tables(store)
    assert {store.event_table, "ledger_chain", "ledger_data_keys", "sms_outbox"} <= set(tables)

    erase_ada(ledger)

    assert all_tables(store) == tables
    assert where_found(store, ADAS_PERSONAL_DATA) == {}
    # Bob is untouched: his address and e-mail are still where they were.
    assert set(where_found(store, BOBS_PERSONAL_DATA)) == set(BOBS_PERSONAL_DATA)
    assert ledger.ok("sms", "outbox", "--to", BOB_PHONE)
    assert ledger.ok("mfa", "status", BOB)["sms"]["enabled"] is False
    assert [entry["ip"] for entry in ledger.ok("history", BOB)] == [BOB_IP]
    assert str(story.bob) in data_key_owners(store)


def test_her_data_keys_are_destroyed_and_her_texts_deleted(
    ledger: Ledger, store: LedgerStore, erased: Story
) -> None:
    assert str(erased.ada) not in data_key_owners(store)
    assert ledger.ok("sms", "outbox", "--to", ADA_PHONE) == []
    assert [text["to"] for text in ledger.ok("sms", "outbox")] == [BOB_PHONE]


# ---- the ledger itself is intact -------------------------------------------------------------


def test_the_ledger_still_verifies_and_no_recorded_event_was_rewritten(
    ledger: Ledger, store: LedgerStore, story: Story
) -> None:
    ledger.ok("checkpoint")
    with store.database.transaction() as tx:
        before = tx.fetchall(f"SELECT * FROM {store.event_table}")

    erase_ada(ledger)

    with store.database.transaction() as tx:
        after = tx.fetchall(f"SELECT * FROM {store.event_table}")
    assert after[: len(before)] == before  # crypto-shredding: no event touched...
    assert len(after) == len(before) + 1  # ...one recorded: the erasure itself
    assert ledger.ok("verify", "--store") == {
        "ok": True,
        "events": len(after),
        "checkpoints": 1,
    }


# ---- what an auditor's export shows ----------------------------------------------------------


def test_an_export_after_erasure_shows_erased_and_still_verifies(
    ledger: Ledger, erased: Story, tmp_path: Path
) -> None:
    out = tmp_path / "everything.jsonl"
    exported = ledger.ok("export", "--all", "--format", "jsonl", "--out", str(out))
    text = out.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    assert exported["records"] == len(records) == ledger.event_count()

    assert leaks(text) == []
    hers = [r for r in records if r["account"] == ERASED]
    assert hers, "no record of Ada's stream shows [erased] for her account"
    assert {r["ip"] for r in hers if r["actor"] == ERASED} == {ERASED}
    assert any(r["user_agent"] == ERASED for r in hers)
    assert hers[-1]["event"] == "Erased" and hers[-1]["actor"] == ADMIN
    # Bob's records are as they were.
    assert any(r["account"] == BOB and r["ip"] == BOB_IP for r in records)
    public_key = ledger.ok("info")["signing_public_key"]
    assert ledger.ok("verify", str(out), "--public-key", public_key)["verified"] is True


# ---- what her account shows now --------------------------------------------------------------


def test_her_audit_log_ends_with_the_erasure_by_the_admin(ledger: Ledger, erased: Story) -> None:
    entries = ledger.ok("audit", ADA)

    assert entries[0]["action"] == "account_erased"
    assert (entries[0]["actor"], entries[0]["ip"]) == (ADMIN, ADMIN_IP)  # the admin's, not hers
    by_herself = [entry for entry in entries if entry["action"] == "mfa_enabled"]
    assert {entry["actor"] for entry in by_herself} == {ERASED}
    assert {entry["ip"] for entry in by_herself} == {ERASED}
    assert leaks(entries) == []


COMMANDS_ON_HER = (
    ("workspace", "grant", ADA, "ops", "--role", "viewer", *BY_THE_ADMIN),
    ("mfa", "sms", "send-code", ADA),
    ("mfa", "disable", ADA, "totp"),
    ("mfa", "recovery-codes", "regenerate", ADA),
    ("api-keys", "create", ADA, "--name", "again"),
    ("user", "alerts", ADA, "--security", "off"),
    ("sessions", "revoke-others", ADA, "--keep", "s-1"),
    ("org", "admin", "add", "acme", ADA),
)


def test_commands_on_her_answer_unknown_user_and_record_nothing(
    ledger: Ledger, store: LedgerStore, erased: Story
) -> None:
    before = ledger.event_count()

    ledger.later(minutes=1)
    codes = {" ".join(command[:3]): error_code(ledger, *command) for command in COMMANDS_ON_HER}

    assert codes == {" ".join(command[:3]): "unknown_user" for command in COMMANDS_ON_HER}
    assert ledger.event_count() == before
    assert str(erased.ada) not in data_key_owners(store)


def try_credential(ledger: Ledger, story: Story, credential: str) -> tuple[int, str]:
    """Ada's device tries one of her old credentials from home: exit code and output."""
    if credential == "session token":
        result = ledger.run(
            "sessions", "check", "--token-stdin", "--json", stdin=story.session_token + "\n"
        )
        return result.exit_code, result.stdout
    if credential == "API key":
        exit_code, document = sign_in(ledger, ADA, *FROM_ADAS_HOME, api_key=story.api_key)
    else:
        exit_code, document = sign_in(ledger, ADA, *FROM_ADAS_HOME, password=PASSWORD)
    return exit_code, json.dumps(document)


@pytest.mark.parametrize("credential", ["session token", "API key", "password"])
def test_her_credentials_open_nothing_and_trying_them_stores_nothing_readable(
    ledger: Ledger, store: LedgerStore, erased: Story, credential: str
) -> None:
    exit_code, output = try_credential(ledger.later(minutes=10), erased, credential)

    assert exit_code == 1, output
    assert '"active": true' not in output and '"outcome": "success"' not in output
    # Her key stays destroyed: nothing new can be sealed for her and read back.
    assert str(erased.ada) not in data_key_owners(store)
    ledger.ok("projections", "run")
    assert where_found(store, ADAS_PERSONAL_DATA) == {}


def test_a_stranger_trying_her_address_afterwards_neither_revives_her_data_nor_breaks_reads(
    ledger: Ledger, store: LedgerStore, erased: Story, tmp_path: Path
) -> None:
    """Anyone may type an e-mail address into the sign-in form."""
    stranger = ("--ip", "192.0.2.66", "--user-agent", "curl/8.8.0")
    exit_code, document = sign_in(ledger.later(minutes=10), ADA, *stranger, password="guess-guess")
    assert (exit_code, document["outcome"]) == (1, "failed"), document

    # Every reader of the ledger still works, for everyone, her history included.
    assert ledger.ok("projections", "rebuild")["ok"] is True
    assert ledger.ok("audit", BOB)
    assert ledger.ok("history", ADA)[-1]["ip"] == ERASED
    out = tmp_path / "after.jsonl"
    ledger.ok("export", "--all", "--format", "jsonl", "--out", str(out))
    assert leaks(out.read_text(encoding="utf-8")) == []
    assert ledger.ok("verify", "--store")["ok"] is True
    # And no key was made for her again.
    assert str(erased.ada) not in data_key_owners(store)


def test_queries_about_her_show_erased_where_her_personal_data_was(
    ledger: Ledger, erased: Story
) -> None:
    status = ledger.ok("mfa", "status", ADA)
    assert status["sms"] == {"enabled": True, "phone": ERASED}
    assert status["totp"]["enabled"] is True

    history = ledger.ok("history", ADA)
    assert len(history) == 4  # three password sign-ins (one failed) and one with the API key
    assert {(entry["ip"], entry["location"]) for entry in history} == {(ERASED, ERASED)}

    answers = {
        "mfa status": status,
        "history": history,
        "audit": ledger.ok("audit", ADA),
        "sessions": ledger.ok("sessions", "list", ADA),
        "alerts": ledger.ok("alerts", ADA),
        "api-keys": ledger.ok("api-keys", "list", ADA),
    }
    assert {name: leaks(answer) for name, answer in answers.items()} == {
        name: [] for name in answers
    }


# ---- the read models were rebuilt ------------------------------------------------------------


def test_the_read_models_were_rebuilt_without_her(
    ledger: Ledger, store: LedgerStore, erased: Story
) -> None:
    assert len(read_model_tables(store)) >= 9
    assert where_found(store, ADAS_PERSONAL_DATA, read_model_tables(store)) == {}
    with store.database.transaction() as tx:
        email = tx.fetchone(
            "SELECT email FROM rm_accounts WHERE account_id = ?", (str(erased.ada),)
        )
        ips = tx.fetchall(
            "SELECT DISTINCT ip FROM rm_login_history WHERE account_id = ?", (str(erased.ada),)
        )
    assert email == (ERASED,)
    assert ips == [(ERASED,)]  # past sign-ins re-read from the ledger, not deleted
    status = ledger.ok("projections", "status")
    assert {state["behind"] for state in status.values()} == {0}

    # Rebuilt means: exactly what replaying the ledger from zero gives now.
    def read_models() -> dict[str, list[bytes]]:
        return {table: sorted(raw_rows(store, table)) for table in read_model_tables(store)}

    rebuilt_by_erasure = read_models()
    ledger.ok("projections", "rebuild")
    assert read_models() == rebuilt_by_erasure
