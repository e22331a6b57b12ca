"""API keys, as a user creates, uses and revokes them from the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from ledger.store import LedgerStore
from tests.cli.test_login import failed_sign_in_events
from tests.cli.test_sms import raw_event_states
from tests.conftest import T0, Ledger

PASSWORD = "pass-word-123"
GRACE = "grace@acme.test"
CURL = "curl/8.8.0"


@pytest.fixture
def user(ledger: Ledger, account: str) -> str:
    """grace@acme.test, a member of acme with a password."""
    ledger.ok("user", "create", GRACE, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    return GRACE


def create_key(ledger: Ledger, email: str, name: str = "deploys") -> dict[str, Any]:
    created = ledger.ok("api-keys", "create", email, "--name", name)
    assert created["key_id"] and created["key"]
    return dict(created)


def sign_in_with_key(ledger: Ledger, email: str, key: str) -> tuple[int, dict[str, Any]]:
    """`login --method api-key --api-key-stdin`: its exit code and JSON document."""
    result = ledger.run(
        "login", email, "--method", "api-key", "--ip", "81.2.69.160", "--user-agent", CURL,
        "--api-key-stdin", "--json", stdin=key + "\n",
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def key_refused(ledger: Ledger, email: str, key: str) -> None:
    exit_code, document = sign_in_with_key(ledger, email, key)
    assert document.pop("error")["code"] == "invalid_api_key", document
    assert (exit_code, document) == (1, {"outcome": "failed", "reason": "invalid_api_key"})


def listed(ledger: Ledger, email: str) -> dict[str, dict[str, Any]]:
    return {row["key_id"]: row for row in ledger.ok("api-keys", "list", email)}


def instant(offset: timedelta) -> str:
    return (T0 + offset).isoformat().replace("+00:00", "Z")


def test_a_new_key_is_shown_once_and_listed_without_it(ledger: Ledger, user: str) -> None:
    before = ledger.event_count()

    deploys = create_key(ledger, user, "deploys")
    backups = create_key(ledger.later(minutes=1), user, "nightly-backups")

    assert ledger.event_count() == before + 2
    assert deploys["key"] != backups["key"]
    assert listed(ledger, user) == {
        deploys["key_id"]: {
            "key_id": deploys["key_id"],
            "name": "deploys",
            "created": instant(timedelta(0)),
            "last_used": None,
            "revoked": False,
        },
        backups["key_id"]: {
            "key_id": backups["key_id"],
            "name": "nightly-backups",
            "created": instant(timedelta(minutes=1)),
            "last_used": None,
            "revoked": False,
        },
    }
    human = ledger.run("api-keys", "list", user)
    assert human.exit_code == 0 and "nightly-backups" in human.stdout
    for key in (deploys["key"], backups["key"]):
        secret = key.rsplit(".", 1)[-1]
        for shown in (json.dumps(ledger.ok("api-keys", "list", user)), human.stdout):
            assert key not in shown and secret not in shown


def test_signing_in_with_a_key_opens_a_session_and_marks_the_key_used(
    ledger: Ledger, user: str
) -> None:
    used = create_key(ledger, user, "deploys")
    idle = create_key(ledger, user, "spare")

    code, session = sign_in_with_key(ledger.later(hours=1), user, used["key"])

    assert code == 0
    assert session["outcome"] == "success"
    assert session["factor"] is None
    assert session["session_id"] and session["session_token"]
    keys = listed(ledger, user)
    assert keys[used["key_id"]]["last_used"] == instant(timedelta(hours=1))
    assert keys[idle["key_id"]]["last_used"] is None
    [opened] = ledger.ok("sessions", "list", user)
    assert (opened["session_id"], opened["browser"]) == (session["session_id"], "curl 8")

    assert sign_in_with_key(ledger.later(hours=1), user, used["key"])[0] == 0
    assert listed(ledger, user)[used["key_id"]]["last_used"] == instant(timedelta(hours=2))


def test_a_revoked_key_no_longer_signs_in(ledger: Ledger, user: str) -> None:
    key = create_key(ledger, user)
    assert sign_in_with_key(ledger.later(minutes=5), user, key["key"])[0] == 0

    revoked = ledger.later(minutes=5).ok("api-keys", "revoke", user, key["key_id"])
    assert revoked["revoked"] is True
    before = ledger.event_count()

    key_refused(ledger.later(minutes=5), user, key["key"])

    # The refused attempt is recorded (and counted against its address by the throttle).
    assert ledger.event_count() == before + failed_sign_in_events(first_from_source=True)
    row = listed(ledger, user)[key["key_id"]]
    assert row["revoked"] is True
    assert row["last_used"] == instant(timedelta(minutes=5))  # the refused attempt is no use
    latest = ledger.ok("history", user)[0]
    assert (latest["outcome"], latest["reason"]) == ("failed", "invalid_api_key")


def test_revoking_a_key_twice_or_an_unknown_key_is_refused(ledger: Ledger, user: str) -> None:
    key = create_key(ledger, user)
    ledger.ok("api-keys", "revoke", user, key["key_id"])
    before = ledger.event_count()

    ledger.refused("api-keys", "revoke", user, key["key_id"])
    ledger.refused("api-keys", "revoke", user, "000000000000")

    assert ledger.event_count() == before
    assert [e["action"] for e in ledger.ok("audit", user)].count("api_key_revoked") == 1


def test_creating_and_revoking_keys_is_audited(ledger: Ledger, user: str) -> None:
    key = create_key(ledger, user, "deploys")
    ledger.later(minutes=2).ok("api-keys", "revoke", user, key["key_id"], "--ip", "10.0.0.8")

    revoked, created = ledger.ok("audit", user)[:2]

    assert created["action"] == "api_key_created"
    assert created["details"] == {"key_id": key["key_id"], "name": "deploys"}
    assert created["timestamp"] == instant(timedelta(0))
    assert revoked["action"] == "api_key_revoked"
    assert revoked["details"] == {"key_id": key["key_id"]}
    assert (revoked["timestamp"], revoked["ip"]) == (instant(timedelta(minutes=2)), "10.0.0.8")


def test_a_key_signs_in_only_to_its_own_account(ledger: Ledger, user: str, account: str) -> None:
    graces = create_key(ledger, user)
    adas = create_key(ledger, account)

    key_refused(ledger, account, graces["key"])
    key_refused(ledger, user, adas["key"])
    key_refused(ledger, "nobody@acme.test", graces["key"])
    ledger.refused("api-keys", "revoke", account, graces["key_id"])  # nor revoked through it

    assert sign_in_with_key(ledger, user, graces["key"])[0] == 0
    assert sign_in_with_key(ledger, account, adas["key"])[0] == 0
    assert listed(ledger, account)[adas["key_id"]]["last_used"] == instant(timedelta(0))
    assert graces["key_id"] not in listed(ledger, account)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda key: key[:-4] + "AAAA", id="wrong-secret"),
        pytest.param(lambda key: "not-an-api-key", id="garbage"),
        pytest.param(lambda key: key + "x", id="longer"),
    ],
)
def test_a_forged_key_is_refused(ledger: Ledger, user: str, forge: Any) -> None:
    key = create_key(ledger, user)

    key_refused(ledger, user, forge(key["key"]))

    assert listed(ledger, user)[key["key_id"]]["last_used"] is None


def test_the_key_is_never_stored_in_clear(
    ledger: Ledger, user: str, store: LedgerStore, backend: str
) -> None:
    key = create_key(ledger, user)
    sign_in_with_key(ledger, user, key["key"])
    key_refused(ledger, user, key["key"] + "x")
    ledger.ok("api-keys", "revoke", user, key["key_id"])

    states = raw_event_states(store)
    shown = json.dumps([ledger.ok("audit", user), ledger.ok("history", user)])

    assert any(key["key_id"].encode() in state for state in states)
    secret = key["key"].rsplit(".", 1)[-1]
    assert [s for s in states if secret.encode() in s] == []
    assert key["key"] not in shown and secret not in shown
