"""Forensics from the command line: what happened to an account on one UTC day (`timeline`) and
what it looked like at an instant (`state`). Both read the ledger itself, never a read model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
import pytest

from ledger.clock import format_instant, parse_instant
from ledger.events import Context, LedgerEvent, Stamp
from ledger.store import LedgerStore
from tests.conftest import T0, Ledger

ADA = "ada@acme.test"
ADMIN = "admin@acme.test"
PASSWORD = "correct-horse-battery"
UK_IP = "81.2.69.160"  # in the United Kingdom in the shipped GeoLite2 City database
ADMIN_IP = "203.0.113.7"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
DAY = "2026-11-14"
# What the ledger records but nobody may read back: secrets, and what could guess them.
SECRET_FIELDS = {
    "secret",
    "password_hash",
    "token_hash",
    "code_hash",
    "key_hash",
    "recovery_code_hash",
    "hashes",
    "salt",
    "nonce",
}


# ---- steps people take -----------------------------------------------------------------------


def instant(text: str) -> datetime:
    return parse_instant(text)


def totp_code(secret: str, ledger: Ledger) -> str:
    return pyotp.TOTP(secret).at(ledger.now)


def wrong_totp_code(secret: str, ledger: Ledger) -> str:
    return f"{(int(totp_code(secret, ledger)) + 1) % 10**6:06d}"


def create_members(ledger: Ledger) -> None:
    """Organisation acme, its admin, and ada (who has a password)."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    ledger.ok("user", "create", ADA, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")


def enrol_totp(ledger: Ledger, email: str) -> str:
    return str(ledger.ok("mfa", "totp", "enrol", email)["secret"])


def confirm_totp(ledger: Ledger, email: str, secret: str) -> list[str]:
    confirmed = ledger.ok("mfa", "totp", "confirm", email, totp_code(secret, ledger))
    assert confirmed["enabled"] is True
    return list(confirmed["recovery_codes"])


def sign_in(
    ledger: Ledger, email: str, secret: str, ip: str = UK_IP, user_agent: str = FIREFOX
) -> dict[str, Any]:
    """A password + authenticator sign-in that must succeed; returns the new session."""
    session = ledger.ok(
        "login",
        email,
        "--method",
        "password",
        "--password-stdin",
        "--ip",
        ip,
        "--user-agent",
        user_agent,
        "--totp",
        totp_code(secret, ledger),
        stdin=PASSWORD + "\n",
    )
    assert session["outcome"] == "success", session
    return dict(session)


def grant(ledger: Ledger, email: str, workspace: str, role: str) -> None:
    ledger.ok("workspace", "grant", email, workspace, "--role", role, "--actor", ADMIN)


# ---- what an investigator asks ---------------------------------------------------------------


def timeline(ledger: Ledger, email: str = ADA, day: str = DAY) -> list[dict[str, Any]]:
    return list(ledger.ok("timeline", email, "--on", day))


def state(ledger: Ledger, when: str, email: str = ADA) -> dict[str, Any]:
    answer = ledger.ok("state", email, "--as-of", when)
    assert answer["as_of"] == format_instant(instant(when))
    return dict(answer)


def workspaces(answer: dict[str, Any]) -> dict[str, str]:
    return {w["workspace"]: w["role"] for w in answer["workspaces"]}


def session_ids(answer: dict[str, Any]) -> list[str]:
    return [s["session_id"] for s in answer["sessions"]]


def recorded_secrets(store: LedgerStore, email: str) -> list[str]:
    """Every secret value the account's events hold (hashes, salts, sealed secrets)."""
    found: list[str] = []
    for event in store.app.events.get(store.account_id(email)):
        assert isinstance(event, LedgerEvent)
        for name, value in event.model_dump(mode="json").items():
            if name in SECRET_FIELDS and value:
                found.extend(value if isinstance(value, list) else [value])
    return found


def read_model_tables(store: LedgerStore) -> list[str]:
    with store.database.transaction() as tx:
        if store.database.postgres:
            rows = tx.fetchall(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        else:
            rows = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return sorted(str(r[0]) for r in rows if str(r[0]).startswith("rm_"))


def wipe_read_models(store: LedgerStore) -> list[str]:
    """Delete every read-model row and every projection position, straight in the database."""
    tables = read_model_tables(store)
    with store.database.transaction() as tx:
        for table in [*tables, "projection_tracking"]:
            tx.execute(f"DELETE FROM {table}")
    return tables


def read_model_rows(store: LedgerStore, tables: Iterable[str]) -> int:
    with store.database.transaction() as tx:
        counts = [
            tx.fetchone(f"SELECT COUNT(*) FROM {table}")
            for table in [*tables, "projection_tracking"]
        ]
    return sum(int(c[0]) for c in counts if c is not None)


# ---- one day in ada's account ----------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    totp_secret: str
    recovery_codes: list[str]
    session: dict[str, Any]


@pytest.fixture
def day(ledger: Ledger) -> Day:
    """ada's account: created just before midnight, a busy 14th, one change just after."""
    ledger.at(instant("2026-11-13T23:59:59Z"))
    create_members(ledger)
    ledger.at(instant("2026-11-14T00:00:00Z"))
    secret = enrol_totp(ledger, ADA)
    ledger.at(instant("2026-11-14T09:00:00Z"))
    wrong = wrong_totp_code(secret, ledger)
    ledger.refused("mfa", "totp", "confirm", ADA, wrong, code="invalid_mfa_code")
    ledger.later(seconds=20)
    codes = confirm_totp(ledger, ADA, secret)
    ledger.at(instant("2026-11-14T10:00:00Z"))
    ledger.ok(
        "workspace", "grant", ADA, "design", "--role", "admin", "--actor", ADMIN, "--ip", ADMIN_IP
    )
    ledger.at(instant("2026-11-14T12:00:00Z"))
    session = sign_in(ledger, ADA, secret)
    ledger.at(instant("2026-11-14T23:59:59.999999Z"))
    ledger.ok("user", "alerts", ADA, "--security", "off")
    ledger.at(instant("2026-11-15T00:00:00Z"))
    ledger.ok("workspace", "revoke", ADA, "design", "--actor", ADMIN)
    return Day(secret, codes, session)


# ---- timeline --------------------------------------------------------------------------------


def test_a_day_lists_exactly_its_events_oldest_first_with_who_and_from_where(
    ledger: Ledger, day: Day
) -> None:
    entries = timeline(ledger)

    assert [(e["timestamp"], e["event"]) for e in entries] == [
        ("2026-11-14T00:00:00Z", "TotpEnrolmentStarted"),
        ("2026-11-14T09:00:00Z", "VerificationFailed"),
        ("2026-11-14T09:00:20Z", "TotpEnrolmentConfirmed"),
        ("2026-11-14T09:00:20Z", "RecoveryCodesGenerated"),
        ("2026-11-14T10:00:00Z", "WorkspaceMembershipGranted"),
        ("2026-11-14T12:00:00Z", "LoginSucceeded"),
        ("2026-11-14T12:00:00Z", "SessionOpened"),  # the session's own stream, hers too
        ("2026-11-14T23:59:59.999999Z", "AlertSettingsChanged"),
    ]
    assert all(list(e) == ["timestamp", "event", "actor", "ip", "details"] for e in entries)
    failed, granted, login = entries[1], entries[4], entries[5]
    assert failed["details"] == {
        "factor": "totp",
        "reason": "invalid_mfa_code",
        "challenge": "enrolment",
    }
    # The admin acted on ada's account, from the admin's own address.
    assert (granted["actor"], granted["ip"]) == (ADMIN, ADMIN_IP)
    assert granted["details"] == {"workspace": "design", "role": "admin"}
    assert (login["actor"], login["ip"]) == (ADA, UK_IP)
    assert login["details"]["method"] == "password"
    assert login["details"]["factor"] == "totp"
    assert login["details"]["session_id"] == day.session["session_id"]
    assert "United Kingdom" in login["details"]["client"]["location"]
    assert {e["actor"] for e in entries if e is not granted} == {ADA}


def test_the_days_before_and_after_keep_their_own_events(ledger: Ledger, day: Day) -> None:
    before = timeline(ledger, day="2026-11-13")
    after = timeline(ledger, day="2026-11-15")

    assert [(e["timestamp"], e["event"]) for e in before] == [
        ("2026-11-13T23:59:59Z", "AccountCreated")
    ]
    assert before[0]["details"]["email"] == ADA
    assert [(e["timestamp"], e["event"], e["actor"]) for e in after] == [
        ("2026-11-15T00:00:00Z", "WorkspaceMembershipRevoked", ADMIN)
    ]
    assert timeline(ledger, day="2026-11-16") == []
    assert timeline(ledger, day="2026-11-12") == []


def test_no_secret_ever_appears_in_a_timeline(ledger: Ledger, store: LedgerStore, day: Day) -> None:
    hidden = recorded_secrets(store, ADA)
    token = day.session["session_token"]
    secrets = [
        day.totp_secret,
        *day.recovery_codes,
        token,
        token.rsplit(".", 1)[-1],
        PASSWORD,
        *hidden,
    ]
    # The ledger really holds each kind (so that this test could fail).
    assert any(s.startswith("sealed:") for s in hidden)  # the TOTP secret, sealed
    assert any(s.startswith("$argon2") for s in hidden)  # the password hash
    assert len(hidden) >= 10 + 3  # ten recovery code hashes, a salt, the token hash...
    outputs = {
        day_shown: ledger.run("timeline", ADA, "--on", day_shown, *as_json).stdout
        for day_shown in ("2026-11-13", DAY, "2026-11-15")
        for as_json in [(), ("--json",)]
    }

    for output in outputs.values():
        leaked = [s for s in secrets if s in output]
        assert leaked == [], output
        assert "sealed:" not in output


def test_a_malformed_day_is_bad_input(ledger: Ledger, account: str) -> None:
    for bad in ["2026-13-01", "2026-11-31", "14/11/2026", "yesterday", ""]:
        result = ledger.bad_input("timeline", account, "--on", bad)
        assert "--on" in result.stderr, bad
        answer = ledger.run("timeline", account, "--on", bad, "--json")
        assert answer.exit_code == 2, bad
        assert json.loads(answer.stdout)["error"]["code"] == "invalid_input"
    before = ledger.event_count()
    ledger.bad_input("timeline", account)  # --on is required
    assert ledger.event_count() == before


def test_a_day_written_in_iso_basic_form_is_never_silently_empty(
    ledger: Ledger, account: str
) -> None:
    """`20261114` is the 14th in ISO 8601's basic form: answer that day, or refuse the input;
    an empty timeline would tell an investigator that nothing happened that day."""
    ledger.later(hours=3).ok("workspace", "grant", account, "design", "--role", "member")
    that_day = timeline(ledger, account, DAY)
    assert [e["event"] for e in that_day] == ["AccountCreated", "WorkspaceMembershipGranted"]

    result = ledger.run("timeline", account, "--on", "20261114", "--json")

    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert json.loads(result.stdout) == that_day


def test_the_timeline_of_an_unknown_account_is_refused(ledger: Ledger, account: str) -> None:
    ledger.refused("timeline", "nobody@acme.test", "--on", DAY, code="unknown_user")


# ---- state as of an instant ------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    first_session: str
    second_session: str


@pytest.fixture
def story(ledger: Ledger) -> Story:
    """A morning in ada's account, an event every so often from T0 (09:00)."""
    create_members(ledger)
    ledger.at(T0 + timedelta(minutes=10))
    secret = enrol_totp(ledger, ADA)
    ledger.later(seconds=20)
    confirm_totp(ledger, ADA, secret)
    ledger.at(T0 + timedelta(minutes=20))
    grant(ledger, ADA, "design", "admin")
    ledger.at(T0 + timedelta(minutes=30))
    first = sign_in(ledger, ADA, secret)["session_id"]
    ledger.at(T0 + timedelta(minutes=31))
    second = sign_in(ledger, ADA, secret, ip="81.2.69.142", user_agent=CHROME)["session_id"]
    ledger.at(T0 + timedelta(hours=1))
    ledger.ok("org", "require-mfa", "acme", "on", "--actor", ADMIN)
    ledger.at(T0 + timedelta(hours=1, minutes=30))
    grant(ledger, ADA, "design", "viewer")
    grant(ledger, ADA, "ops", "member")
    ledger.at(T0 + timedelta(hours=2))
    ledger.ok("sessions", "revoke", ADA, first)
    ledger.at(T0 + timedelta(hours=3))
    ledger.ok("workspace", "revoke", ADA, "design", "--actor", ADMIN)
    ledger.at(T0 + timedelta(hours=4))
    ledger.ok(
        "org", "sso", "acme", "--idp", "okta", "--issuer", "https://idp.acme.test",
        "--client-id", "flero-ledger", "--mfa", "idp", "--actor", ADMIN,
    )  # fmt: skip
    return Story(first, second)


def test_totp_is_off_before_enrolment_and_on_from_the_confirming_instant(
    ledger: Ledger, story: Story
) -> None:
    before = state(ledger, "2026-11-14T09:05:00Z")["mfa"]
    pending = state(ledger, "2026-11-14T09:10:19.999999Z")["mfa"]
    confirmed = state(ledger, "2026-11-14T09:10:20Z")["mfa"]
    elsewhere = state(ledger, "2026-11-14T11:10:20+02:00")["mfa"]  # the same instant

    assert before["totp"] == {"enabled": False, "enrolled_at": None}
    assert before["recovery_codes"] == {"remaining": 0, "generated_at": None}
    assert pending["totp"] == {"enabled": False, "enrolled_at": None}  # a secret, not confirmed
    assert confirmed["totp"] == {"enabled": True, "enrolled_at": "2026-11-14T09:10:20Z"}
    assert confirmed["recovery_codes"] == {
        "remaining": 10,
        "generated_at": "2026-11-14T09:10:20Z",
    }
    assert confirmed["sms"] == {"enabled": False, "phone": None}
    assert elsewhere == confirmed
    # Today's status agrees with the last instant.
    now = ledger.ok("mfa", "status", ADA)
    assert state(ledger, "2026-11-14T14:00:00Z")["mfa"] == now


def test_a_session_is_active_until_it_is_revoked_or_left_idle(ledger: Ledger, story: Story) -> None:
    both = state(ledger, "2026-11-14T09:45:00Z")
    just_before = state(ledger, "2026-11-14T10:59:59Z")
    after = state(ledger, "2026-11-14T11:00:00Z")

    assert session_ids(state(ledger, "2026-11-14T09:29:00Z")) == []
    assert session_ids(both) == [story.second_session, story.first_session]  # latest first
    first = both["sessions"][1]
    assert first["ip"] == UK_IP
    assert "United Kingdom" in first["location"]
    assert first["created"] == first["last_activity"] == "2026-11-14T09:30:00Z"
    assert session_ids(just_before) == [story.second_session, story.first_session]
    assert session_ids(after) == [story.second_session]
    # Idle for more than 30 days, a session is no longer active, though nothing was recorded.
    assert session_ids(state(ledger, "2026-12-14T09:31:00Z")) == [story.second_session]
    assert session_ids(state(ledger, "2026-12-14T09:31:01Z")) == []


OKTA = {"idp": "okta", "mfa_mode": "idp", "enforced": False}
POLICY_OVER_TIME: list[tuple[str, dict[str, str], bool, dict[str, Any] | None]] = [
    # when, workspace roles, organisation requires MFA, SSO
    ("2026-11-14T09:00:00Z", {}, False, None),
    ("2026-11-14T09:20:00Z", {"design": "admin"}, False, None),
    ("2026-11-14T09:59:59Z", {"design": "admin"}, False, None),
    ("2026-11-14T10:00:00Z", {"design": "admin"}, True, None),
    ("2026-11-14T10:30:00Z", {"design": "viewer", "ops": "member"}, True, None),
    ("2026-11-14T12:00:00Z", {"ops": "member"}, True, None),
    ("2026-11-14T13:00:00Z", {"ops": "member"}, True, OKTA),
]


def test_workspaces_and_org_policy_are_those_of_the_instant(ledger: Ledger, story: Story) -> None:
    for when, roles, requires_mfa, sso in POLICY_OVER_TIME:
        answer = state(ledger, when)

        assert workspaces(answer) == roles, when
        assert answer["workspaces"] == sorted(answer["workspaces"], key=lambda w: w["workspace"])
        assert answer["org"]["requires_mfa"] is requires_mfa, when
        assert answer["mfa"]["org_requires_mfa"] is requires_mfa, when
        assert answer["org"]["sso"] == sso, when
        assert answer["org"]["slug"] == "acme"


def test_before_the_account_existed_there_is_no_state(ledger: Ledger) -> None:
    create_members(ledger)
    ledger.later(minutes=20)
    grant(ledger, ADA, "design", "admin")

    error = ledger.refused("state", ADA, "--as-of", "2026-11-14T08:59:59Z", code="not_yet_created")
    assert ADA in error["error"]["message"]
    ledger.refused("state", ADA, "--as-of", "2026-11-13", code="not_yet_created")
    assert state(ledger, "2026-11-14T09:00:00Z")["workspaces"] == []  # its first instant
    ledger.refused(
        "state", "nobody@acme.test", "--as-of", "2026-11-14T10:00:00Z", code="unknown_user"
    )
    ledger.bad_input("state", ADA, "--as-of", "half past nine")


def test_answers_come_from_the_ledger_never_from_read_models(
    ledger: Ledger, store: LedgerStore, story: Story
) -> None:
    instants = ["2026-11-14T09:05:00Z", "2026-11-14T09:45:00Z", "2026-11-14T11:30:00Z"]
    instants += ["2026-11-14T13:30:00Z"]

    def answers() -> list[Any]:
        return [timeline(ledger), *(state(ledger, when) for when in instants)]

    original = answers()
    tables = wipe_read_models(store)
    assert {"rm_accounts", "rm_mfa_state", "rm_active_sessions", "rm_audit_log"} <= set(tables)
    assert read_model_rows(store, tables) == 0

    assert answers() == original
    assert read_model_rows(store, tables) == 0  # answered with no read model at all

    rebuilt = ledger.ok("projections", "rebuild")
    assert rebuilt["ok"] is True
    assert read_model_rows(store, tables) > 0
    assert answers() == original


# ---- a long history --------------------------------------------------------------------------


def grant_directly(
    store: LedgerStore, email: str, grants: list[tuple[str, str]], start: datetime
) -> list[datetime]:
    """Record many workspace grants through the aggregate, one second apart, saved in batches
    (far quicker than one command each); returns when each was recorded."""
    times = [start + timedelta(seconds=i) for i in range(len(grants))]
    for first in range(0, len(grants), 100):
        account = store.account(email)
        for (workspace, role), at in list(zip(grants, times, strict=True))[first : first + 100]:
            stamp = Stamp(at=at, context=Context(ip="198.51.100.23"), sealer=store.keyring)
            account.grant_workspace(workspace, role, stamp)
        store.app.save(account)
    return times


def snapshot_table(store: LedgerStore) -> str:
    return "ledger_snapshots" if store.database.postgres else "stored_snapshots"


def test_a_long_history_is_replayed_to_the_instant_asked_about(
    ledger: Ledger, store: LedgerStore
) -> None:
    create_members(ledger)
    secret = enrol_totp(ledger, ADA)
    ledger.later(seconds=20)
    confirm_totp(ledger, ADA, secret)
    ledger.later(minutes=1)
    session = sign_in(ledger, ADA, secret)["session_id"]
    roles = ["viewer", "member", "admin"]
    grants = [(f"w{i % 7}", roles[i % 3]) for i in range(300)]
    times = grant_directly(store, ADA, grants, T0 + timedelta(hours=1))
    ledger.at(times[-1] + timedelta(minutes=1))
    ledger.ok("sessions", "revoke", ADA, session)

    account_id = store.account_id(ADA)
    assert store.app.snapshots is not None
    versions = [s.originator_version for s in store.app.snapshots.get(account_id)]
    assert versions == [100, 200, 300]

    middle = [0, 94, 95, 150, 194, 195, 250, 299]  # around the snapshots at versions 100 and 200
    answers = {}
    for i in middle:
        answer = state(ledger, format_instant(times[i]))
        answers[i] = answer
        expected: dict[str, str] = {}
        for workspace, role in grants[: i + 1]:
            expected[workspace] = role
        assert workspaces(answer) == expected, i
        assert answer["mfa"]["totp"]["enabled"] is True
        assert answer["mfa"]["recovery_codes"]["remaining"] == 10
        assert session_ids(answer) == [session]
    assert session_ids(state(ledger, format_instant(ledger.now))) == []
    assert len(timeline(ledger)) == 1 + 3 + 2 + 300 + 1  # signing in opens a session too

    # Snapshots only shorten the replay: without them, every answer is the same.
    with store.database.transaction() as tx:
        tx.execute(f"DELETE FROM {snapshot_table(store)}")
    assert list(store.app.snapshots.get(account_id)) == []
    for i in middle:
        assert state(ledger, format_instant(times[i])) == answers[i], i
