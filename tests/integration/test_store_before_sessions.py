"""A ledger recorded by the code before sessions had streams of their own, opened by today's.

`tests/fixtures/store_before_sessions/` was built by commit b9cae86 (the demo's history and a
robot that signed in 150 times with API keys), with what every query answered then. Today's
code must read every past event with its meaning: the same answers, before and after a rebuild
from zero; the sessions that code opened still work until they end as they would have; and the
account whose old snapshot is full of sessions still loads (from its events: that snapshot was
taken before snapshots were authenticated, so it is no longer trusted). On PostgreSQL the same
ledger is first copied event by event (and snapshot, data key and checkpoint) into a fresh
database.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.checkpoints import Checkpoint, CheckpointAnchor
from ledger.clock import parse_instant
from ledger.store import LedgerStore, address_anchor_file_for
from ledger.store_location import StoreLocation
from tests.conftest import Ledger
from tests.integration.test_tamper_evidence import Attacker

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_before_sessions"
SECRETS = json.loads((FIXTURE / "secrets.json").read_text())
ANSWERS = json.loads((FIXTURE / "answers.json").read_text())
ASKED_AT = parse_instant(SECRETS["asked_at"])
ROBOT = SECRETS["robot"]
NEW_SESSION_FIELDS = {"opened_by", "key_id", "cursor"}


@pytest.fixture
def old_ledger(
    store_url: str, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Ledger:
    """The fixture's ledger, copied where this test may change it, on the backend asked for."""
    copy = tmp_path / "before"
    shutil.copytree(FIXTURE, copy)
    for key_file in copy.glob("*-key"):  # git keeps no modes: a fresh clone has them 0644,
        key_file.chmod(0o600)  # which the ledger refuses for a key file
    sqlite_url = f"sqlite:///{copy / 'ledger.sqlite3'}"
    if backend == "sqlite":
        return Ledger(sqlite_url).at(ASKED_AT)
    monkeypatch.setenv("FLERO_LEDGER_KEY_FILE", str(copy / "ledger.sqlite3.master-key"))
    monkeypatch.setenv("FLERO_LEDGER_SIGNING_KEY_FILE", str(copy / "ledger.sqlite3.signing-key"))
    copy_ledger(StoreLocation.parse(sqlite_url), StoreLocation.parse(store_url))
    return Ledger(store_url).at(ASKED_AT)


def copy_ledger(source: StoreLocation, target: StoreLocation) -> None:
    """Every event (in order), snapshot, data key and checkpoint, as stored; and, like every
    store of that time, no identity."""
    assert source.sqlite_path is not None
    # Read before the store is opened: opening it gives it an identity, and drops these.
    with closing(sqlite3.connect(source.sqlite_path)) as lite:
        snapshots = [
            StoredEvent(UUID(stream), version, topic, state)
            for stream, version, topic, state in lite.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_snapshots"
            )
        ]
    old, new = LedgerStore(source), LedgerStore(target)
    try:
        events = old.app.recorder.select_notifications(start=1, limit=100_000)
        new.app.recorder.insert_events(events)
        new.app.authenticated_snapshots.recorder.insert_events(snapshots)
        with old.database.transaction() as tx:
            keys = tx.fetchall("SELECT owner_id, wrapped_key FROM ledger_data_keys")
            checkpoints = tx.fetchall(
                "SELECT notification_id, log_hash, signed_at, signature FROM ledger_checkpoints"
            )
        with new.database.transaction() as tx:
            tx.execute("ALTER TABLE ledger_identity DISABLE TRIGGER USER")
            tx.execute("DELETE FROM ledger_identity")
            tx.execute("ALTER TABLE ledger_identity ENABLE TRIGGER USER")
            for owner, wrapped in keys:
                tx.execute(
                    "INSERT INTO ledger_data_keys (owner_id, wrapped_key) VALUES (?, ?)",
                    (owner, bytes(wrapped)),
                )
            for position, log_hash, signed_at, signature in checkpoints:
                tx.execute(
                    "INSERT INTO ledger_checkpoints (notification_id, log_hash, signed_at, "
                    "signature) VALUES (?, ?, ?, ?)",
                    (position, bytes(log_hash), signed_at, bytes(signature)),
                )
    finally:
        old.close()
        new.close()


def answers(ledger: Ledger, email: str) -> dict[str, Any]:
    """What today's code answers to each question the fixture recorded."""
    asked: dict[str, Any] = {
        "mfa": answer(ledger, "mfa", "status", email),
        "sessions": [without_new_fields(s) for s in answer(ledger, "sessions", "list", email)],
        "history": answer(ledger, "history", email),
        "audit": answer(ledger, "audit", email),
        "alerts": answer(ledger, "alerts", email),
        "api_keys": answer(ledger, "api-keys", "list", email),
    }
    for days in (0, 1, 3, 30, 100):
        instant = ASKED_AT - timedelta(days=days)
        as_of = instant.isoformat().replace("+00:00", "Z")
        state = answer(ledger, "state", email, "--as-of", as_of)
        if "sessions" in state:
            state["sessions"] = [without_new_fields(s) for s in state["sessions"]]
        asked[f"state_{days}d"] = state
        asked[f"timeline_{days}d"] = answer(ledger, "timeline", email, "--on", as_of[:10])
    return asked


def answer(ledger: Ledger, *args: str) -> Any:
    """The JSON document of an answer or of a refusal (an account not yet created then)."""
    result = ledger.run(*args, "--json")
    assert result.exit_code in (0, 1), result.output
    return refusals_by_code(json.loads(result.stdout))


def refusals_by_code(answers: Any) -> Any:
    """A refusal is compared by its code: its message may since say how to go on."""
    if isinstance(answers, dict):
        if set(answers) == {"error"}:
            return {"error": {"code": answers["error"]["code"]}}
        return {key: refusals_by_code(value) for key, value in answers.items()}
    return answers


def without_new_fields(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if k not in NEW_SESSION_FIELDS}


def test_every_query_answers_as_it_did_before_and_after_a_rebuild(old_ledger: Ledger) -> None:
    emails = [email for email in ANSWERS if "@" in email]
    assert ROBOT in emails and len(emails) == 4

    for email in emails:
        assert answers(old_ledger, email) == refusals_by_code(ANSWERS[email]), email
    old_ledger.ok("projections", "rebuild")
    for email in emails:
        assert answers(old_ledger, email) == refusals_by_code(ANSWERS[email]), email

    assert old_ledger.ok("verify", "--store") == ANSWERS["verify"]


def test_sessions_the_old_code_opened_work_until_they_end_as_they_would_have(
    old_ledger: Ledger,
) -> None:
    tokens = SECRETS["tokens"]
    ledger = old_ledger.later(minutes=5)

    assert ledger.ok("sessions", "check", "--token-stdin", stdin=tokens["laptop"])["active"]
    for ended in ("api_149", "api_0", "api_148"):  # signed out alone, and with the others
        refused = ledger.refused("sessions", "check", "--token-stdin", stdin=tokens[ended])
        assert refused["error"]["code"] == "unknown_session"
    # Revoking a key did not end its sessions then; that decision keeps its meaning.
    assert ledger.ok("sessions", "check", "--token-stdin", stdin=tokens["after_key_revoked"])

    laptop = tokens["laptop"].split(".")[2]
    signed_out = ledger.ok("sessions", "revoke-others", ROBOT, "--keep", laptop)

    assert signed_out["revoked"] == 2
    for ended in ("after_key_revoked", "api_after_revoke_others"):
        refused = ledger.refused("sessions", "check", "--token-stdin", stdin=tokens[ended])
        assert refused["error"]["code"] == "unknown_session"
    assert [s["session_id"] for s in ledger.ok("sessions", "list", ROBOT)] == [laptop]
    assert ledger.ok("audit", ROBOT)[0]["details"]["count"] == 2


def test_the_account_with_an_old_snapshot_loads_and_new_sign_ins_open_sessions_of_their_own(
    old_ledger: Ledger,
) -> None:
    ledger = old_ledger.later(minutes=1)

    signed_in = ledger.ok(
        *("login", ROBOT, "--method", "api-key", "--ip", "175.16.199.1"),
        *("--user-agent", "ci-runner/1.0", "--api-key-stdin"),
        stdin=SECRETS["first_key"],
    )

    listed = {s["session_id"]: s for s in ledger.ok("sessions", "list", ROBOT)}
    opened = listed[signed_in["session_id"]]
    assert (opened["opened_by"], opened["key_id"]) == (
        "api_key",
        SECRETS["first_key"].split(".")[1],
    )
    # An API-key session idles out after an hour; the old ones kept their 30 days.
    token = signed_in["session_token"]
    assert ledger.later(minutes=59).ok("sessions", "check", "--token-stdin", stdin=token)
    expired = ledger.later(minutes=120).refused("sessions", "check", "--token-stdin", stdin=token)
    assert expired["error"]["code"] == "session_expired"
    assert ledger.ok("sessions", "check", "--token-stdin", stdin=SECRETS["tokens"]["laptop"])


def test_the_old_store_is_given_an_identity_keeps_its_anchor_and_drops_its_old_snapshots(
    old_ledger: Ledger,
) -> None:
    """Its first open carries over the anchor its address named, and drops the snapshots
    taken before they were authenticated; a rewritten history is then found as ever."""
    with closing(sqlite3.connect(FIXTURE / "ledger.sqlite3")) as lite:
        first = lite.execute(
            "SELECT notification_id, log_hash, signature FROM ledger_checkpoints "
            "ORDER BY notification_id LIMIT 1"
        ).fetchone()
    anchored = Checkpoint(int(first[0]), bytes(first[1]), bytes(first[2]))
    location = StoreLocation.parse(old_ledger.url)
    CheckpointAnchor(address_anchor_file_for(location)).write(anchored)

    assert old_ledger.ok("verify", "--store") == ANSWERS["verify"]

    store = LedgerStore(location)
    try:
        assert store.checkpoint_anchor.read() == anchored
        attacker = Attacker(store)
        assert attacker.snapshots(store.account_id(ROBOT)) == []
        oldest = attacker.events()[0]
        assert b"flero-demo" in oldest.state
        attacker.set_state(oldest, oldest.state.replace(b"flero-demo", b"flero-d3mo"))
        attacker.relink_stream_from(oldest)
        with attacker.writing() as tx:
            tx.execute("DELETE FROM ledger_checkpoints")
    finally:
        store.close()
    message = old_ledger.refused("verify", "--store", code="tampered")["error"]["message"]
    assert message.startswith(f"checkpoint at event {anchored.notification_id} "), message
