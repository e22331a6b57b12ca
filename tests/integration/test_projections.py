"""Read models: rebuilt from zero they equal the incremental ones; a killed run loses nothing.

Every read model is derived from the ledger alone, so an operator can throw one away and
replay it at any time, and a projection killed half-way resumes without losing or duplicating
an event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

import projections.framework
from commands.clients import describe_client
from ledger.account import Account
from ledger.events import Context, Stamp
from ledger.sign_in import SignInAttempt
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from projections.audit_log import AuditLogProjection
from projections.catalogue import runner_for
from projections.framework import Projection, ProjectionRunner
from projections.mfa_state import MfaStateProjection
from tests.cli.test_login import configure_sso, id_token
from tests.conftest import Ledger

ADA, BOB, CY = "ada@acme.test", "bob@acme.test", "cy@globex.test"
PROJECTIONS = (
    "directory",
    "mfa_state",
    "audit_log",
    "active_sessions",
    "login_history",
    "alerts",
    "api_keys",
)
READ_MODELS = {  # table -> its primary key, to list rows in a stable order
    "rm_accounts": "account_id",
    "rm_organisations": "org_id",
    "rm_mfa_state": "account_id",
    "rm_audit_log": "position",
    "rm_active_sessions": "account_id, session_id",
    "rm_session_endings": "position",
    "rm_login_history": "position",
    "rm_alerts": "position",
    "rm_alert_settings": "account_id",
    "rm_api_keys": "account_id, key_id",
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"

Rows = dict[str, list[tuple[Any, ...]]]


class ProcessKilled(BaseException):
    """Stands in for the projection process dying (kill, Ctrl-C) in the middle of a batch."""


# ---- a varied history, told through the command line --------------------------------------


def enrol_totp(ledger: Ledger, email: str) -> list[str]:
    secret = ledger.later(minutes=1).ok("mfa", "totp", "enrol", email)["secret"]
    code = pyotp.TOTP(secret).at(ledger.later(seconds=20).now)
    return list(ledger.ok("mfa", "totp", "confirm", email, code)["recovery_codes"])


def enrol_sms(ledger: Ledger, email: str, phone: str, *, first_try_wrong: bool = False) -> None:
    ledger.later(minutes=1).ok("mfa", "sms", "enrol", email, "--phone", phone)
    texted = re.findall(r"\b\d{6}\b", ledger.ok("sms", "outbox", "--to", phone)[0]["body"])[0]
    if first_try_wrong:
        wrong = f"{(int(texted) + 1) % 10**6:06d}"
        ledger.refused("mfa", "sms", "confirm", email, wrong, code="invalid_mfa_code")
    ledger.later(seconds=30).ok("mfa", "sms", "confirm", email, texted)


def build_history(ledger: Ledger, folder: Path) -> None:
    """Two organisations, three people, every kind of event the read models care about
    (`folder` receives the keys of acme's OpenID provider)."""
    ledger.ok("org", "create", "acme")
    ledger.ok("org", "create", "globex")
    ledger.later(minutes=1).ok("org", "require-mfa", "globex", "on")
    configure_sso(ledger.later(minutes=1), folder, "both")
    ledger.ok("user", "create", ADA, "--org", "acme", "--password-stdin", stdin="first-Passw0rd\n")
    ledger.ok("user", "create", BOB, "--org", "acme", "--ip", "198.51.100.7")
    ledger.ok("user", "create", CY, "--org", "globex")
    ledger.ok("org", "admin", "add", "acme", ADA)

    ada_codes = enrol_totp(ledger, ADA)
    ledger.later(minutes=2).refused(
        "mfa", "totp", "verify", ADA, "000000", code="invalid_mfa_code"
    )  # a failed code
    ledger.later(minutes=1).ok("mfa", "recovery-codes", "use", ADA, ada_codes[0])
    ledger.later(minutes=1).ok("mfa", "recovery-codes", "regenerate", ADA)
    enrol_sms(ledger, ADA, "+14155550123")
    ledger.later(minutes=1).ok("mfa", "disable", ADA, "totp")
    sign_in_by_sso(ledger)

    enrol_sms(ledger, BOB, "+442079460958", first_try_wrong=True)
    ledger.later(minutes=1).ok(
        "workspace", "grant", BOB, "design", "--role", "member", "--actor", ADA
    )
    ledger.later(minutes=1).ok("workspace", "grant", BOB, "finance", "--role", "viewer")
    ledger.later(minutes=1).ok("workspace", "revoke", BOB, "design", "--actor", ADA)
    ledger.later(minutes=1).ok("user", "alerts", BOB, "--security", "off")
    ledger.later(minutes=1).ok("mfa", "disable", BOB, "sms")  # his recovery codes go with it

    enrol_totp(ledger, CY)
    ledger.later(minutes=1).refused("mfa", "disable", CY, "totp", code="mfa_required_by_org")
    ledger.later(minutes=1).ok(
        "user", "set-password", ADA, "--password-stdin", stdin="2nd-Passw0rd\n"
    )
    sign_in_and_out(ledger)

    ledger.ok("projections", "run")  # every read model up to date


def sign_in_by_sso(ledger: Ledger) -> None:
    """acme asks for the IdP's MFA and a Flero factor: ada is refused without the first, then
    signs in with both (a texted code)."""
    sso = ("login", ADA, "--method", "sso", "--id-token-stdin", "--ip", "81.2.69.160")
    sso = (*sso, "--user-agent", BROWSER)
    without_mfa = id_token(ledger.later(minutes=1), ADA, amr=["pwd"])
    refused = ledger.run(*sso, "--json", stdin=without_mfa + "\n")
    assert json.loads(refused.stdout)["reason"] == "idp_mfa_required", refused.output
    ledger.later(minutes=1).ok("mfa", "sms", "send-code", ADA)
    texted = re.findall(r"\b\d{6}\b", ledger.ok("sms", "outbox", "--to", "+14155550123")[0]["body"])
    signed_in = ledger.later(minutes=1).ok(
        *sso, "--sms", texted[0], stdin=id_token(ledger, ADA) + "\n"
    )
    assert signed_in["factor"] == "sms"


def sign_in_and_out(ledger: Ledger) -> None:
    """Sessions, failed and successful sign-ins, alerts and API keys."""
    ledger.ok(
        "user",
        "create",
        "dee@globex.test",
        "--org",
        "globex",
        "--password-stdin",
        stdin="dee-Passw0rd-1\n",
    )
    login = (
        "login",
        "dee@globex.test",
        "--method",
        "password",
        "--password-stdin",
        "--user-agent",
        BROWSER,
    )
    first = ledger.later(minutes=1).ok(*login, "--ip", "81.2.69.160", stdin="dee-Passw0rd-1\n")
    ledger.later(minutes=1).ok(*login, "--ip", "2001:db8::7", stdin="dee-Passw0rd-1\n")
    for _ in range(2):  # two failures, one alert
        ledger.later(minutes=1).run(*login, "--ip", "203.0.113.5", stdin="wrong\n")
    ledger.later(minutes=20).run(*login, "--ip", "203.0.113.5", stdin="wrong\n")
    ledger.later(minutes=1).ok(
        "sessions", "revoke-others", "dee@globex.test", "--keep", first["session_id"]
    )
    key = ledger.ok("api-keys", "create", "dee@globex.test", "--name", "ci")
    ledger.later(minutes=1).ok(
        "login",
        "dee@globex.test",
        "--method",
        "api-key",
        "--api-key-stdin",
        "--ip",
        "81.2.69.160",
        "--user-agent",
        "curl/8.4.0",
        stdin=key["key"] + "\n",
    )
    ledger.ok("api-keys", "create", "dee@globex.test", "--name", "old")
    ledger.ok("api-keys", "revoke", "dee@globex.test", key["key_id"])


# ---- reading the read models -------------------------------------------------------------


def read_models(store: LedgerStore) -> Rows:
    with store.database.transaction() as tx:
        return {
            table: tx.fetchall(f"SELECT * FROM {table} ORDER BY {key}")
            for table, key in READ_MODELS.items()
        }


def tracking_positions(store: LedgerStore) -> dict[str, int]:
    return {name: state["position"] for name, state in runner_for(store).status().items()}


def notification_ids(store: LedgerStore) -> list[int]:
    return [n.id for n in store.app.recorder.select_notifications(start=1, limit=100_000)]


def assert_history_is_varied(rows: Rows) -> None:
    """Guards against comparing two empty read models."""
    assert len(rows["rm_accounts"]) == 4
    assert len(rows["rm_active_sessions"]) == 2  # ada's by SSO and dee's kept one
    # Signing the others out ended one session; revoking the key, the one it opened.
    assert [len(json.loads(row[2])) for row in rows["rm_session_endings"]] == [1, 1]
    assert len(rows["rm_login_history"]) == 8
    assert {row[-1] for row in rows["rm_login_history"]} == {None, "okta"}  # the IdP, for SSO
    assert len(rows["rm_alerts"]) == 3
    assert len(rows["rm_api_keys"]) == 2
    assert len(rows["rm_organisations"]) == 2
    assert len(rows["rm_mfa_state"]) == 4
    actions = {row[3] for row in rows["rm_audit_log"]}
    assert {
        "account_created",
        "mfa_enabled",
        "mfa_disabled",
        "mfa_verification_failed",
        "recovery_code_used",
        "recovery_codes_regenerated",
        "workspace_membership_changed",
        "alert_settings_changed",
        "password_changed",
    } <= actions


@contextmanager
def dies_once(
    projection_class: type[Projection], when: Callable[[Any, int], bool]
) -> Iterator[list[int]]:
    """Make every instance of a projection die, once, right after applying the first event
    for which `when(event, position)` holds: its rows for that event are written, uncommitted.
    Yields the positions at which it died."""
    original = projection_class.handlers
    died_at: list[int] = []

    def handlers(self: Projection) -> dict[type[Any], Any]:
        def guard(handler: Any) -> Any:
            def apply(event: Any, position: int, tx: Any) -> None:
                handler(event, position, tx)
                if not died_at and when(event, position):
                    died_at.append(position)
                    raise ProcessKilled(f"killed while applying event {position}")

            return apply

        return {event_type: guard(handler) for event_type, handler in original(self).items()}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(projection_class, "handlers", handlers)
        yield died_at


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def history(ledger: Ledger, store: LedgerStore, tmp_path: Path) -> Rows:
    """The read models as built incrementally, command after command."""
    build_history(ledger, tmp_path)
    rows = read_models(store)
    assert_history_is_varied(rows)
    return rows


@pytest.fixture
def runner(store: LedgerStore) -> ProjectionRunner:
    return runner_for(store)


# ---- rebuilding from zero ----------------------------------------------------------------


def test_rebuilding_every_read_model_from_the_cli_gives_the_same_rows(
    ledger: Ledger, store: LedgerStore, history: Rows
) -> None:
    events = ledger.event_count()

    rebuilt = ledger.ok("projections", "rebuild")

    assert rebuilt == {"ok": True, "rebuilt": dict.fromkeys(PROJECTIONS, events)}
    assert read_models(store) == history
    assert tracking_positions(store) == dict.fromkeys(PROJECTIONS, events)


@pytest.mark.parametrize("name", PROJECTIONS)
def test_rebuilding_one_read_model_from_the_cli_gives_the_same_rows(
    ledger: Ledger, store: LedgerStore, history: Rows, name: str
) -> None:
    rebuilt = ledger.ok("projections", "rebuild", name)

    assert rebuilt == {"ok": True, "rebuilt": {name: ledger.event_count()}}
    assert read_models(store) == history


def test_rebuilding_starts_from_zero_and_drops_rows_the_ledger_does_not_justify(
    store: LedgerStore, runner: ProjectionRunner, history: Rows
) -> None:
    with store.database.transaction() as tx:
        tx.execute(
            "INSERT INTO rm_audit_log (position, account_id, occurred_at, action, details) "
            "VALUES (999999, 'nobody', '2026-01-01T00:00:00.000000Z', 'forged', '{}')"
        )
        tx.execute("UPDATE rm_mfa_state SET totp_enabled = TRUE, recovery_remaining = 42")
    assert read_models(store) != history

    for projection in runner.projections:
        assert runner.rebuild(projection) == store.event_count()

    assert read_models(store) == history


def test_a_rebuild_drops_the_same_old_sign_in_attempts_as_catching_up_did(
    ledger: Ledger, store: LedgerStore, runner: ProjectionRunner
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    account = store.account(ADA)
    start = ledger.now
    key = account.create_api_key("ci", Stamp(start, Context(), store.keyring))
    attempt = SignInAttempt(
        method="api_key", client=describe_client(None, BROWSER), api_key=key.secret
    )
    opened = []
    for day in (1, 40, 100, 130, 200, 241, 300, 331):  # 241: exactly 90 days before 331
        stamp = Stamp(start + timedelta(days=day), Context(), store.keyring)
        opened.append(account.log_in(attempt, None, stamp).opened)
    store.app.save(account, *opened)
    runner.catch_up()
    incremental = read_models(store)["rm_login_history"]
    assert len(incremental) == 3  # the others aged out

    runner.rebuild(runner.by_name("login_history"))

    assert read_models(store)["rm_login_history"] == incremental


def test_events_appended_while_a_rebuild_runs_are_read_after_it(
    ledger: Ledger, store: LedgerStore, runner: ProjectionRunner, history: Rows, store_url: str
) -> None:
    if not store.database.postgres:
        pytest.skip("SQLite's rebuild holds the one write lock: nothing is appended meanwhile")
    other = LedgerStore(StoreLocation.parse(store_url))
    appended: list[int] = []

    def append_once(event: Any, position: int) -> bool:
        if not appended:
            ledger.later(days=1).ok("user", "create", "late@acme.test", "--org", "acme")
            appended.append(other.event_count())
        return False

    with dies_once(MfaStateProjection, append_once):
        read = runner.rebuild()
    other.close()

    assert read == store.event_count() == appended[0]
    assert tracking_positions(store) == dict.fromkeys(PROJECTIONS, store.event_count())
    emails = [row[2] for row in read_models(store)["rm_accounts"]]
    assert "late@acme.test" in emails


def test_an_unknown_read_model_cannot_be_rebuilt(ledger: Ledger, history: Rows) -> None:
    result = ledger.bad_input("projections", "rebuild", "nonsense")
    assert "no projection 'nonsense'" in result.stderr


# ---- a projection killed half-way ------------------------------------------------------------


def test_a_rebuild_killed_half_way_leaves_the_read_model_as_it_was(
    store: LedgerStore, runner: ProjectionRunner, history: Rows
) -> None:
    mfa_state = runner.by_name("mfa_state")
    middle = store.event_count() // 2

    with (
        dies_once(MfaStateProjection, lambda event, position: position >= middle) as died_at,
        pytest.raises(ProcessKilled),
    ):
        runner.rebuild(mfa_state)
    assert died_at and died_at[0] >= middle

    # The rebuild was one transaction: its fresh rows are gone, the old ones and their
    # position stand, and nothing it left behind stops the next rebuild.
    assert read_models(store) == history
    assert tracking_positions(store)["mfa_state"] == store.event_count()
    assert runner.rebuild(mfa_state) == store.event_count()
    assert read_models(store) == history


def emptied(store: LedgerStore, projection: Projection) -> None:
    """A read model about to be built from zero, one batch after another, by catching up."""
    with store.database.transaction() as tx:
        for table in projection.tables:
            tx.execute(f"DELETE FROM {table}")
        tx.execute("UPDATE projection_tracking SET position = 0 WHERE name = ?", (projection.name,))


def test_a_run_killed_in_its_third_batch_keeps_the_first_two_and_resumes_after_them(
    store: LedgerStore,
    runner: ProjectionRunner,
    history: Rows,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = 4
    monkeypatch.setattr(projections.framework, "BATCH_SIZE", batch)
    ids = notification_ids(store)
    end_of_batch_2 = ids[2 * batch - 1]
    end_of_batch_3 = ids[3 * batch - 1]
    audit_log = runner.by_name("audit_log")

    emptied(store, audit_log)
    with (
        dies_once(AuditLogProjection, lambda event, position: position > end_of_batch_2) as died,
        pytest.raises(ProcessKilled),
    ):
        runner.catch_up(audit_log)
    assert end_of_batch_2 < died[0] <= end_of_batch_3, "the crash must fall in batch 3"

    # Batches 1 and 2 are applied, with their position; nothing of batch 3 is.
    assert tracking_positions(store)["audit_log"] == end_of_batch_2
    kept = read_models(store)["rm_audit_log"]
    assert kept == [row for row in history["rm_audit_log"] if row[0] <= end_of_batch_2]
    assert kept, "batches 1 and 2 hold audited events"

    # Resuming reads only what was not applied yet, and ends where a clean rebuild ends.
    assert runner.catch_up(audit_log) == len(ids) - 2 * batch
    resumed = read_models(store)
    assert resumed == history
    runner.rebuild(audit_log)
    assert read_models(store) == resumed


def test_a_rebuild_killed_from_the_cli_leaves_the_read_model_as_it_was(
    ledger: Ledger, store: LedgerStore, history: Rows
) -> None:
    events = ledger.event_count()
    halfway = notification_ids(store)[events // 2]

    with (
        dies_once(AuditLogProjection, lambda event, position: position >= halfway),
        pytest.raises(ProcessKilled),
    ):
        ledger.run("projections", "rebuild", "audit_log", "--json")

    status = ledger.ok("projections", "status")["audit_log"]
    assert status == {"position": events, "behind": 0}
    assert read_models(store) == history


# ---- a projection that fails ---------------------------------------------------------------


def test_a_projection_that_fails_on_an_event_stops_there_and_never_skips_it(
    ledger: Ledger, store: LedgerStore, runner: ProjectionRunner, history: Rows
) -> None:
    mfa_state = runner.by_name("mfa_state")
    original = MfaStateProjection.handlers

    def broken(self: MfaStateProjection) -> dict[type[Any], Any]:
        def cannot_apply(event: Any, position: int, tx: Any) -> None:
            raise RuntimeError(f"cannot apply event {position}")

        return {**original(self), Account.TotpEnrolmentConfirmed: cannot_apply}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MfaStateProjection, "handlers", broken)
        with pytest.raises(RuntimeError, match="cannot apply event"):
            runner.rebuild(mfa_state)
        assert read_models(store) == history  # a rebuild that fails changes nothing
        emptied(store, mfa_state)
        with pytest.raises(RuntimeError, match="cannot apply event"):
            runner.catch_up(mfa_state)
        stuck_at = tracking_positions(store)["mfa_state"]
        # Trying again fails again, at the same place: the event is not skipped...
        with pytest.raises(RuntimeError, match="cannot apply event"):
            runner.catch_up(mfa_state)
        assert tracking_positions(store)["mfa_state"] == stuck_at
        # ...and a query does not answer from a read model that is stuck.
        with pytest.raises(RuntimeError, match="cannot apply event"):
            ledger.run("mfa", "status", ADA, "--json")
        assert ledger.ok("projections", "status")["mfa_state"]["behind"] > 0

    # Once the projection is fixed, it carries on from where it stopped.
    assert runner.catch_up(mfa_state) == store.event_count() - stuck_at
    assert read_models(store) == history


# ---- status and info ---------------------------------------------------------------------------


def test_status_and_info_report_how_far_each_read_model_has_read(
    ledger: Ledger, store: LedgerStore, backend: str, account: str
) -> None:
    enrol_totp(ledger, account)
    ledger.ok("mfa", "status", account)  # a query brings every read model up to date
    events = ledger.event_count()

    status = ledger.ok("projections", "status")
    assert status == {name: {"position": events, "behind": 0} for name in PROJECTIONS}
    info = ledger.ok("info")
    assert {key: info[key] for key in ("store", "events", "projections", "signing_public_key")} == {
        "store": backend,
        "events": events,
        "projections": status,
        "signing_public_key": store.signing_public_key,
    }
    assert info["location"] == StoreLocation.parse(ledger.url).description  # where keys are: #15

    # Another process records an event; nothing has read it yet.
    ada = store.account(account)
    ada.grant_workspace("design", "member", Stamp(ledger.now, Context(), store.keyring))
    store.app.save(ada)
    behind = ledger.ok("projections", "status")
    assert behind == {name: {"position": events, "behind": 1} for name in PROJECTIONS}
    assert ledger.ok("info")["events"] == events + 1

    ledger.ok("audit", account)
    assert ledger.ok("projections", "status") == {
        name: {"position": events + 1, "behind": 0} for name in PROJECTIONS
    }


# ---- read-your-writes ------------------------------------------------------------------------


def test_every_change_shows_in_mfa_status_straight_away(ledger: Ledger, account: str) -> None:
    def status() -> dict[str, Any]:
        return dict(ledger.ok("mfa", "status", account))

    assert status()["totp"]["enabled"] is False

    codes = enrol_totp(ledger, account)
    assert status()["totp"] == {"enabled": True, "enrolled_at": "2026-11-14T09:01:20Z"}
    assert status()["recovery_codes"] == {
        "remaining": 10,
        "generated_at": "2026-11-14T09:01:20Z",
    }

    ledger.later(minutes=1).ok("mfa", "recovery-codes", "use", account, codes[3])
    assert status()["recovery_codes"]["remaining"] == 9

    enrol_sms(ledger, account, "+14155550123")
    assert status()["sms"] == {"enabled": True, "phone": "+1•••••0123"}

    ledger.later(minutes=1).ok("mfa", "recovery-codes", "regenerate", account)
    assert status()["recovery_codes"] == {
        "remaining": 10,
        "generated_at": ledger.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    ledger.later(minutes=1).ok("mfa", "disable", account, "totp")
    assert status()["totp"] == {"enabled": False, "enrolled_at": None}
    ledger.later(minutes=1).ok("mfa", "disable", account, "sms")
    assert status() == {
        "totp": {"enabled": False, "enrolled_at": None},
        "sms": {"enabled": False, "phone": None},
        "recovery_codes": {"remaining": 0, "generated_at": None},
        "org_requires_mfa": False,
    }
    ledger.later(minutes=1).ok("org", "require-mfa", "acme", "on")
    assert status()["org_requires_mfa"] is True


def test_a_fresh_process_sees_the_same_answer(ledger: Ledger, account: str) -> None:
    enrol_totp(ledger, account)
    fresh = Ledger(ledger.url).at(ledger.now + timedelta(seconds=1))
    assert fresh.ok("mfa", "status", account)["totp"]["enabled"] is True
    assert fresh.ok("audit", account)[0]["action"] == "recovery_codes_generated"
