"""Sessions, as a user sees and ends them from the command line: the Security tab's device list,
checking a token, signing one session or all the others out."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from ledger.clock import format_instant
from ledger.store import LedgerStore
from tests.cli.test_sms import raw_event_states
from tests.conftest import T0, Ledger
from tests.unit.test_user_agents import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE

PASSWORD = "pass-word-123"
GRACE = "grace@acme.test"
UK_IP = "81.2.69.160"  # in the United Kingdom in the shipped GeoLite2 City database
CURL = "curl/8.8.0"


# ---- steps a user takes ----------------------------------------------------------------------


@pytest.fixture
def user(ledger: Ledger, account: str) -> str:
    """grace@acme.test, a member of acme with a password."""
    ledger.ok("user", "create", GRACE, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    return GRACE


def sign_in(
    ledger: Ledger, email: str, user_agent: str = CHROME_WINDOWS, ip: str = UK_IP
) -> dict[str, Any]:
    """A password sign-in that must succeed; returns the new session (its token shown once)."""
    session = ledger.ok(
        "login",
        email,
        "--method",
        "password",
        "--ip",
        ip,
        "--user-agent",
        user_agent,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert session["outcome"] == "success", session
    assert session["factor"] is None
    return dict(session)


def check(ledger: Ledger, token: str, ip: str | None = None) -> tuple[int, dict[str, Any]]:
    """`sessions check --token-stdin`: its exit code and JSON document."""
    extra = ("--ip", ip) if ip else ()
    result = ledger.run("sessions", "check", "--token-stdin", *extra, "--json", stdin=token + "\n")
    return result.exit_code, json.loads(result.stdout)


def accepted(ledger: Ledger, token: str) -> dict[str, Any]:
    code, document = check(ledger, token)
    assert code == 0, document
    return document


def refusal(ledger: Ledger, token: str) -> str:
    """The error code `sessions check` answers for a token it refuses (exit 1)."""
    code, document = check(ledger, token)
    assert code == 1, document
    return str(document["error"]["code"])


def listed(ledger: Ledger, email: str) -> list[str]:
    """Session ids in `sessions list` order (most recent activity first)."""
    return [row["session_id"] for row in ledger.ok("sessions", "list", email)]


def audit_details(ledger: Ledger, email: str, action: str) -> list[dict[str, Any]]:
    return [e["details"] for e in ledger.ok("audit", email) if e["action"] == action]


def instant(offset: timedelta) -> str:
    return (T0 + offset).isoformat().replace("+00:00", "Z")


# ---- the device list ---------------------------------------------------------------------------


def test_each_device_is_named_and_located_most_recent_first(ledger: Ledger, user: str) -> None:
    chrome = sign_in(ledger, user, CHROME_WINDOWS, UK_IP)
    firefox = sign_in(ledger.later(minutes=1), user, FIREFOX_LINUX, "127.0.0.1")
    iphone = sign_in(ledger.later(minutes=1), user, SAFARI_IPHONE, "10.20.30.40")
    curl = sign_in(ledger.later(minutes=1), user, CURL, UK_IP)

    rows = ledger.ok("sessions", "list", user)

    assert [row["session_id"] for row in rows] == [
        curl["session_id"],
        iphone["session_id"],
        firefox["session_id"],
        chrome["session_id"],
    ]
    described = [(r["browser"], r["os"], r["device"], r["ip"]) for r in rows]
    assert described == [
        ("curl 8", "Unknown", "Unknown", UK_IP),
        ("Mobile Safari 17", "iOS 17", "iPhone", "10.20.30.40"),
        ("Firefox 127", "Linux", "Computer", "127.0.0.1"),
        ("Chrome 126", "Windows 10/11", "Computer", UK_IP),
    ]
    locations = [row["location"] for row in rows]
    assert "United Kingdom" in locations[0]
    assert locations[1] == "Private network"
    assert locations[2] == "This computer (loopback)"
    assert "United Kingdom" in locations[3]
    # Nobody used a session after signing in: last activity is when it was created.
    for row, minutes in zip(rows, [3, 2, 1, 0], strict=True):
        assert row["created"] == row["last_activity"] == instant(timedelta(minutes=minutes))


def test_the_human_list_shows_device_and_place(ledger: Ledger, user: str) -> None:
    session = sign_in(ledger, user, SAFARI_IPHONE, UK_IP)

    result = ledger.run("sessions", "list", user)

    assert result.exit_code == 0, result.output
    assert session["session_id"] in result.stdout
    for named in ("Mobile Safari 17", "iOS 17", "iPhone"):
        assert named in result.stdout
    assert "United Kingdom" in result.stdout


def test_using_a_session_moves_it_to_the_top(ledger: Ledger, user: str) -> None:
    laptop = sign_in(ledger, user, CHROME_WINDOWS)
    phone = sign_in(ledger.later(minutes=1), user, SAFARI_IPHONE)
    assert listed(ledger, user) == [phone["session_id"], laptop["session_id"]]

    ledger.later(minutes=10)
    assert accepted(ledger, laptop["session_token"]) == {
        "active": True,
        "session_id": laptop["session_id"],
        "email": user,
    }

    rows = ledger.ok("sessions", "list", user)
    assert [row["session_id"] for row in rows] == [laptop["session_id"], phone["session_id"]]
    assert rows[0]["last_activity"] == instant(timedelta(minutes=11))
    assert rows[0]["created"] == instant(timedelta(0))


def test_activity_is_recorded_at_most_once_per_five_minutes(ledger: Ledger, user: str) -> None:
    session = sign_in(ledger, user)
    token = session["session_token"]
    signed_in = ledger.event_count()

    accepted(ledger, token)  # right after signing in
    accepted(ledger.later(minutes=4, seconds=59), token)
    assert ledger.event_count() == signed_in

    accepted(ledger.later(seconds=2), token)  # just over five minutes after signing in
    assert ledger.event_count() == signed_in + 1
    accepted(ledger.later(minutes=2), token)
    accepted(ledger.later(minutes=2, seconds=58), token)  # 4:58 after the recorded activity
    assert ledger.event_count() == signed_in + 1

    accepted(ledger.later(seconds=3), token)  # 5:01 after it
    assert ledger.event_count() == signed_in + 2
    assert ledger.ok("sessions", "list", user)[0]["last_activity"] == instant(
        timedelta(minutes=10, seconds=2)
    )


# ---- tokens that do not work -------------------------------------------------------------------


def test_a_signed_out_session_is_refused_and_the_other_one_is_not(
    ledger: Ledger, user: str
) -> None:
    laptop = sign_in(ledger, user, CHROME_WINDOWS)
    phone = sign_in(ledger.later(minutes=1), user, SAFARI_IPHONE)

    revoked = ledger.later(minutes=1).ok(
        "sessions", "revoke", user, laptop["session_id"], "--ip", "10.0.0.1"
    )

    assert revoked["ok"] is True
    assert refusal(ledger, laptop["session_token"]) == "unknown_session"
    assert accepted(ledger, phone["session_token"])["session_id"] == phone["session_id"]
    assert listed(ledger, user) == [phone["session_id"]]
    latest = ledger.ok("audit", user)[0]
    assert latest["action"] == "session_revoked"
    assert latest["details"] == {"session": laptop["session_id"]}
    assert latest["ip"] == "10.0.0.1"
    assert latest["timestamp"] == instant(timedelta(minutes=2))


def test_revoking_a_session_that_is_not_active_is_refused(ledger: Ledger, user: str) -> None:
    session = sign_in(ledger, user)
    ledger.ok("sessions", "revoke", user, session["session_id"])
    before = ledger.event_count()

    ledger.refused("sessions", "revoke", user, session["session_id"], code="unknown_session")
    ledger.refused("sessions", "revoke", user, "0123456789abcdef", code="unknown_session")

    assert ledger.event_count() == before
    assert len(audit_details(ledger, user, "session_revoked")) == 1


def test_a_session_of_one_account_cannot_be_revoked_through_another(
    ledger: Ledger, user: str, account: str
) -> None:
    session = sign_in(ledger, user)

    ledger.refused("sessions", "revoke", account, session["session_id"], code="unknown_session")

    assert accepted(ledger, session["session_token"])["email"] == user


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token: "garbage", id="garbage"),
        pytest.param(lambda token: "fls.not.a.token", id="not-a-uuid"),
        pytest.param(lambda token: token[:-4] + "AAAA", id="wrong-secret"),
        pytest.param(
            lambda token: ".".join([*token.split(".")[:2], "0123456789abcdef", "x" * 43]),
            id="unknown-session",
        ),
        pytest.param(
            lambda token: ".".join(["fls", "0" * 32, *token.split(".")[2:]]),
            id="unknown-account",
        ),
    ],
)
def test_unknown_and_garbage_tokens_are_refused_and_nothing_is_recorded(
    ledger: Ledger, user: str, forge: Any
) -> None:
    token = sign_in(ledger, user)["session_token"]
    forged = forge(token)
    assert forged != token
    before = ledger.event_count()

    assert refusal(ledger.later(minutes=10), forged) == "unknown_session"

    assert ledger.event_count() == before
    assert accepted(ledger, token)["active"] is True  # the real one still works


def test_a_session_idle_for_more_than_30_days_expires(ledger: Ledger, user: str) -> None:
    kept_busy = sign_in(ledger, user, CHROME_WINDOWS)
    left_idle = sign_in(ledger, user, FIREFOX_LINUX)

    accepted(ledger.later(days=29), kept_busy["session_token"])  # 29 days idle: still fine
    ledger.later(days=1, minutes=1)  # the other one: 30 days and a minute idle
    before = ledger.event_count()

    assert refusal(ledger, left_idle["session_token"]) == "session_expired"
    assert ledger.event_count() == before
    assert listed(ledger, user) == [kept_busy["session_id"]]
    # Activity on day 29 restarted the clock: 29 more idle days are fine, 31 are not.
    accepted(ledger.at(T0 + timedelta(days=58)), kept_busy["session_token"])
    ledger.at(T0 + timedelta(days=89))
    assert refusal(ledger, kept_busy["session_token"]) == "session_expired"
    assert listed(ledger, user) == []


# ---- signing the other sessions out -------------------------------------------------------------


def test_revoke_others_keeps_exactly_the_kept_session(ledger: Ledger, user: str) -> None:
    sessions = [
        sign_in(ledger.later(minutes=1), user, agent)
        for agent in (CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, CURL)
    ]
    kept = sessions[1]
    others = [s for s in sessions if s is not kept]

    result = ledger.later(minutes=1).ok(
        "sessions", "revoke-others", user, "--keep", kept["session_id"]
    )

    assert result["revoked"] == 3
    assert accepted(ledger, kept["session_token"])["session_id"] == kept["session_id"]
    for other in others:
        assert refusal(ledger, other["session_token"]) == "unknown_session"
    assert listed(ledger, user) == [kept["session_id"]]
    [details] = audit_details(ledger, user, "sessions_revoked")
    assert details["count"] == 3
    assert details["kept"] == kept["session_id"]
    assert sorted(details["sessions"]) == sorted(s["session_id"] for s in others)

    # Pressing the button again has nothing left to sign out.
    assert (
        ledger.ok("sessions", "revoke-others", user, "--keep", kept["session_id"])["revoked"] == 0
    )
    assert accepted(ledger, kept["session_token"])["active"] is True


def test_revoke_others_refuses_to_keep_a_session_that_is_not_active(
    ledger: Ledger, user: str
) -> None:
    first = sign_in(ledger, user)
    second = sign_in(ledger, user)
    ledger.ok("sessions", "revoke", user, first["session_id"])
    before = ledger.event_count()

    ledger.refused(
        "sessions", "revoke-others", user, "--keep", first["session_id"], code="unknown_session"
    )

    assert ledger.event_count() == before
    assert accepted(ledger, second["session_token"])["active"] is True


def set_password(ledger: Ledger, email: str, password: str, *extra: str) -> tuple[int, Any]:
    result = ledger.run(
        "user", "set-password", email, "--password-stdin", *extra, "--json", stdin=password + "\n"
    )
    return result.exit_code, json.loads(result.stdout)


def password_works(ledger: Ledger, email: str, password: str) -> bool:
    result = ledger.run(
        "login", email, "--method", "password", "--ip", UK_IP, "--user-agent", CURL,
        "--password-stdin", "--json", stdin=password + "\n",
    )  # fmt: skip
    return result.exit_code == 0


def test_changing_the_password_can_sign_out_every_other_session_at_once(
    ledger: Ledger, user: str
) -> None:
    laptop = sign_in(ledger, user, CHROME_WINDOWS)
    phone = sign_in(ledger, user, SAFARI_IPHONE)
    stolen = sign_in(ledger, user, CURL, "10.9.9.9")
    before = ledger.event_count()

    code, document = set_password(
        ledger.later(minutes=5),
        user,
        "a-new-pass-word",
        "--revoke-other-sessions",
        "--keep",
        laptop["session_id"],
    )

    assert (code, document) == (0, {"ok": True})
    assert ledger.event_count() == before + 2  # the new password and the sign-outs
    assert accepted(ledger, laptop["session_token"])["active"] is True
    assert refusal(ledger, phone["session_token"]) == "unknown_session"
    assert refusal(ledger, stolen["session_token"]) == "unknown_session"
    assert listed(ledger, user) == [laptop["session_id"]]
    entries = ledger.ok("audit", user)
    assert [e["action"] for e in entries[:2]] == ["sessions_revoked", "password_changed"]
    assert entries[0]["timestamp"] == entries[1]["timestamp"] == instant(timedelta(minutes=5))
    assert sorted(entries[0]["details"]["sessions"]) == sorted(
        [phone["session_id"], stolen["session_id"]]
    )
    assert not password_works(ledger, user, PASSWORD)
    assert password_works(ledger, user, "a-new-pass-word")


def test_changing_the_password_without_keep_signs_every_session_out(
    ledger: Ledger, user: str
) -> None:
    sessions = [sign_in(ledger, user, agent) for agent in (CHROME_WINDOWS, SAFARI_IPHONE)]

    code, _ = set_password(ledger, user, "a-new-pass-word", "--revoke-other-sessions")

    assert code == 0
    for session in sessions:
        assert refusal(ledger, session["session_token"]) == "unknown_session"
    assert listed(ledger, user) == []


def test_changing_the_password_alone_leaves_sessions_alone(ledger: Ledger, user: str) -> None:
    session = sign_in(ledger, user)

    code, _ = set_password(ledger, user, "a-new-pass-word")

    assert code == 0
    assert accepted(ledger, session["session_token"])["active"] is True
    assert audit_details(ledger, user, "sessions_revoked") == []


def test_a_password_change_keeping_an_unknown_session_changes_nothing(
    ledger: Ledger, user: str
) -> None:
    session = sign_in(ledger, user)
    before = ledger.event_count()

    code, document = set_password(
        ledger, user, "a-new-pass-word", "--revoke-other-sessions", "--keep", "0123456789abcdef"
    )

    assert code == 1
    assert document["error"]["code"] == "unknown_session"
    assert ledger.event_count() == before
    assert accepted(ledger, session["session_token"])["active"] is True
    assert password_works(ledger, user, PASSWORD)


# ---- the token is a secret ---------------------------------------------------------------------


def test_the_session_token_is_shown_once_and_never_again(
    ledger: Ledger, user: str, store: LedgerStore, backend: str
) -> None:
    sessions = [sign_in(ledger, user, agent) for agent in (CHROME_WINDOWS, SAFARI_IPHONE, CURL)]
    accepted(ledger.later(minutes=6), sessions[0]["session_token"])
    ledger.ok("sessions", "revoke", user, sessions[2]["session_id"])
    ledger.ok("sessions", "revoke-others", user, "--keep", sessions[0]["session_id"])
    code, _ = set_password(ledger, user, "a-new-pass-word", "--revoke-other-sessions")
    assert code == 0

    shown = [
        json.dumps(ledger.ok("sessions", "list", user)),
        ledger.run("sessions", "list", user).stdout,
        json.dumps(ledger.ok("history", user)),
        json.dumps(ledger.ok("audit", user)),
        ledger.run("audit", user).stdout,
    ]
    states = raw_event_states(store)

    assert len(states) == ledger.event_count()
    assert any(sessions[0]["session_id"].encode() in state for state in states)
    for session in sessions:
        token = session["session_token"]
        secret_part = token.rsplit(".", 1)[-1]
        for text in shown:
            assert token not in text
            assert secret_part not in text
        leaks = [s for s in states if token.encode() in s or secret_part.encode() in s]
        assert leaks == [], f"a session token is stored in clear: {leaks}"


# ---- sessions of their own: pages, API keys (issue 12) ----------------------------------------


def sign_in_with_key(ledger: Ledger, email: str, key: str) -> dict[str, Any]:
    session = ledger.ok(
        *("login", email, "--method", "api-key", "--ip", UK_IP, "--user-agent", CURL),
        "--api-key-stdin",
        stdin=key + "\n",
    )
    assert session["outcome"] == "success", session
    return dict(session)


def test_the_list_comes_a_page_at_a_time_most_recent_first(ledger: Ledger, user: str) -> None:
    opened = [sign_in(ledger.later(minutes=1), user)["session_id"] for _ in range(5)]

    first = ledger.ok("sessions", "list", user, "--limit", "2")
    second = ledger.ok("sessions", "list", user, "--limit", "2", "--cursor", first[-1]["cursor"])
    third = ledger.ok("sessions", "list", user, "--limit", "2", "--cursor", second[-1]["cursor"])
    after = ledger.ok("sessions", "list", user, "--cursor", third[-1]["cursor"])

    pages = [[row["session_id"] for row in page] for page in (first, second, third)]
    assert pages == [opened[4:2:-1], opened[2:0:-1], opened[:1]]
    assert after == []
    assert len(ledger.ok("sessions", "list", user)) == 5  # 50 by default
    text = ledger.run("sessions", "list", user, "--limit", "2").stdout
    assert f"--cursor {first[-1]['cursor']}" in text
    assert "--cursor" not in ledger.run("sessions", "list", user).stdout


@pytest.mark.parametrize(
    "cursor", ["nonsense", "1-2", "1-2-3-4", "ffffffffffffffff-1-a", "x" * 300]
)
def test_a_cursor_the_list_never_gave_is_bad_input(ledger: Ledger, user: str, cursor: str) -> None:
    sign_in(ledger, user)

    result = ledger.bad_input("sessions", "list", user, "--cursor", cursor)

    assert "cursor" in result.output


def test_a_session_says_how_it_was_opened_and_by_which_key(ledger: Ledger, user: str) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "ci")
    by_password = sign_in(ledger.later(minutes=1), user)
    by_key = sign_in_with_key(ledger.later(minutes=1), user, key["key"])

    rows = {row["session_id"]: row for row in ledger.ok("sessions", "list", user)}

    assert (rows[by_key["session_id"]]["opened_by"], rows[by_key["session_id"]]["key_id"]) == (
        "api_key",
        key["key_id"],
    )
    password_row = rows[by_password["session_id"]]
    assert (password_row["opened_by"], password_row["key_id"]) == ("password", None)
    assert f"API key {key['key_id']}" in ledger.run("sessions", "list", user).stdout


def test_revoking_a_key_ends_the_sessions_it_opened_and_says_how_many(
    ledger: Ledger, user: str
) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "ci")
    other = ledger.ok("api-keys", "create", user, "--name", "deploy")
    by_key = [sign_in_with_key(ledger.later(minutes=1), user, key["key"]) for _ in range(3)]
    by_other = sign_in_with_key(ledger.later(minutes=1), user, other["key"])
    laptop = sign_in(ledger.later(minutes=1), user)

    ledger.later(minutes=1).ok("api-keys", "revoke", user, key["key_id"])

    for session in by_key:
        assert refusal(ledger, session["session_token"]) == "unknown_session"
    accepted(ledger, by_other["session_token"])
    accepted(ledger, laptop["session_token"])
    assert set(listed(ledger, user)) == {by_other["session_id"], laptop["session_id"]}
    [revoked] = audit_details(ledger, user, "api_key_revoked")
    assert revoked["sessions_ended"] == 3
    assert sorted(revoked["sessions"]) == sorted(s["session_id"] for s in by_key)
    assert "3 sessions ended" in ledger.run("audit", user).stdout


def test_an_api_key_session_idles_out_after_an_hour_and_a_browser_one_after_30_days(
    ledger: Ledger, user: str
) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "ci")
    by_key = sign_in_with_key(ledger, user, key["key"])
    browser = sign_in(ledger, user)

    ledger.later(minutes=61)

    assert refusal(ledger, by_key["session_token"]) == "session_expired"
    assert listed(ledger, user) == [browser["session_id"]]
    accepted(ledger.later(days=29), browser["session_token"])


def test_signing_the_others_out_says_how_many_it_ended(ledger: Ledger, user: str) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "ci")
    kept = sign_in(ledger, user)
    sign_in(ledger.later(minutes=1), user)
    sign_in_with_key(ledger.later(minutes=1), user, key["key"])
    idle = sign_in_with_key(ledger, user, key["key"])
    ledger.later(minutes=61)  # the API-key sessions idle out: not counted
    accepted(ledger, kept["session_token"])
    fresh = sign_in_with_key(ledger, user, key["key"])

    answer = ledger.ok("sessions", "revoke-others", user, "--keep", kept["session_id"])

    assert answer == {"ok": True, "revoked": 2, "kept": kept["session_id"]}
    assert refusal(ledger, fresh["session_token"]) == "unknown_session"
    assert refusal(ledger, idle["session_token"]) in ("unknown_session", "session_expired")
    assert listed(ledger, user) == [kept["session_id"]]


def test_the_state_at_an_instant_shows_the_sessions_active_then_replayed_from_the_ledger(
    ledger: Ledger, user: str
) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "ci")
    browser = sign_in(ledger, user)["session_id"]
    by_key = sign_in_with_key(ledger.later(minutes=1), user, key["key"])["session_id"]
    then = format_instant(ledger.now + timedelta(minutes=30))
    later_key = sign_in_with_key(ledger.later(days=2), user, key["key"])["session_id"]

    def active_at(instant: str) -> dict[str, str]:
        state = ledger.ok("state", user, "--as-of", instant)
        return {s["session_id"]: s["opened_by"] for s in state["sessions"]}

    assert active_at(then) == {browser: "password", by_key: "api_key"}
    # Two days on, the key's first session had idled out after its hour; the browser's had not.
    assert active_at(format_instant(ledger.now)) == {browser: "password", later_key: "api_key"}
