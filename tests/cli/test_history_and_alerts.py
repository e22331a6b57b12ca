"""The login history (the last 90 days of attempts) and security alerts for failed sign-ins."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from ledger.store import LedgerStore
from tests.cli.test_login import failed_sign_in_events
from tests.conftest import T0, Ledger
from tests.unit.test_user_agents import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE

PASSWORD = "pass-word-123"
GRACE = "grace@acme.test"
UK_IP = "81.2.69.160"  # in the United Kingdom in the shipped GeoLite2 City database


@pytest.fixture
def user(ledger: Ledger, account: str) -> str:
    """grace@acme.test, a member of acme with a password."""
    ledger.ok("user", "create", GRACE, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    return GRACE


def attempt(
    ledger: Ledger,
    email: str,
    password: str = PASSWORD,
    *extra: str,
    ip: str = UK_IP,
    user_agent: str = CHROME_WINDOWS,
) -> dict[str, Any]:
    """One password sign-in attempt; returns its JSON (success or failure, exit 0 or 1), a
    failure's `error` (the same code as its reason) checked and left out."""
    result = ledger.run(
        "login", email, "--method", "password", "--ip", ip, "--user-agent", user_agent,
        "--password-stdin", *extra, "--json", stdin=password + "\n",
    )  # fmt: skip
    document = dict(json.loads(result.stdout))
    assert result.exit_code == (0 if document["outcome"] == "success" else 1), result.output
    if document["outcome"] == "failed":
        assert document.pop("error")["code"] == document["reason"], document
    return document


def succeed(ledger: Ledger, email: str, **client: str) -> None:
    assert attempt(ledger, email, **client)["outcome"] == "success"


def fail(ledger: Ledger, email: str, **client: str) -> None:
    failed = attempt(ledger, email, "not-the-password", **client)
    assert failed == {"outcome": "failed", "reason": "invalid_password"}


def instant(offset: timedelta) -> str:
    return (T0 + offset).isoformat().replace("+00:00", "Z")


def history_rows(store: LedgerStore) -> int:
    """How many rows the login-history read model holds, whoever they belong to."""
    with store.database.transaction() as tx:
        row = tx.fetchone("SELECT COUNT(*) FROM rm_login_history")
    assert row is not None
    return int(row[0])


# ---- the login history -------------------------------------------------------------------------


def test_history_shows_every_attempt_newest_first(ledger: Ledger, user: str) -> None:
    succeed(ledger, user)
    fail(ledger.later(hours=1), user, ip="10.1.2.3", user_agent=FIREFOX_LINUX)
    secret = ledger.later(hours=1).ok("mfa", "totp", "enrol", user)["secret"]
    ledger.ok("mfa", "totp", "confirm", user, pyotp.TOTP(secret).at(ledger.now))
    missing = attempt(ledger.later(minutes=1), user, ip="127.0.0.1")
    assert missing == {"outcome": "failed", "reason": "mfa_required"}
    ledger.later(minutes=1)
    with_code = attempt(ledger, user, PASSWORD, "--totp", pyotp.TOTP(secret).at(ledger.now))
    assert with_code["factor"] == "totp"

    history = ledger.ok("history", user)

    uk = history[0]["location"]
    assert "United Kingdom" in uk
    assert history == [
        {
            "timestamp": instant(timedelta(hours=2, minutes=2)),
            "method": "password",
            "ip": UK_IP,
            "location": uk,
            "outcome": "success",
            "reason": None,
            "factor": "totp",
            "idp": None,
        },
        {
            "timestamp": instant(timedelta(hours=2, minutes=1)),
            "method": "password",
            "ip": "127.0.0.1",
            "location": "This computer (loopback)",
            "outcome": "failed",
            "reason": "mfa_required",
            "factor": None,
            "idp": None,
        },
        {
            "timestamp": instant(timedelta(hours=1)),
            "method": "password",
            "ip": "10.1.2.3",
            "location": "Private network",
            "outcome": "failed",
            "reason": "invalid_password",
            "factor": None,
            "idp": None,
        },
        {
            "timestamp": instant(timedelta(0)),
            "method": "password",
            "ip": UK_IP,
            "location": uk,
            "outcome": "success",
            "reason": None,
            "factor": None,
            "idp": None,
        },
    ]


def test_history_is_per_account(ledger: Ledger, user: str, account: str) -> None:
    succeed(ledger, user)
    attempt(ledger, "nobody@acme.test", "whatever")  # no such account

    assert len(ledger.ok("history", user)) == 1
    assert ledger.ok("history", account) == []


def test_days_limits_how_far_back_history_goes(ledger: Ledger, user: str) -> None:
    for day in (0, 2, 5):
        succeed(ledger.at(T0 + timedelta(days=day)), user)
    ledger.at(T0 + timedelta(days=10))

    def days_shown(*days: str) -> list[str]:
        return [row["timestamp"] for row in ledger.ok("history", user, *days)]

    assert days_shown("--days", "7") == [instant(timedelta(days=5))]
    assert days_shown("--days", "9") == [instant(timedelta(days=5)), instant(timedelta(days=2))]
    assert days_shown("--days", "1") == []
    assert (
        days_shown()
        == days_shown("--days", "90")
        == [instant(timedelta(days=d)) for d in (5, 2, 0)]
    )


@pytest.mark.parametrize("days", ["0", "91", "-1", "seven"])
def test_days_outside_1_to_90_is_bad_input(ledger: Ledger, user: str, days: str) -> None:
    succeed(ledger, user)
    before = ledger.event_count()

    result = ledger.bad_input("history", user, "--days", days, "--json")

    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    assert ledger.event_count() == before


def test_attempts_older_than_90_days_leave_the_history_but_not_the_ledger(
    ledger: Ledger, user: str, store: LedgerStore
) -> None:
    succeed(ledger, user)
    fail(ledger.later(minutes=1), user)
    succeed(ledger.at(T0 + timedelta(days=10)), user)
    assert len(ledger.ok("history", user)) == 3
    recorded = ledger.event_count()

    ledger.at(T0 + timedelta(days=91))

    [remaining] = ledger.ok("history", user)
    assert (remaining["timestamp"], remaining["outcome"]) == (
        instant(timedelta(days=10)),
        "success",
    )
    assert ledger.event_count() == recorded  # nothing left the ledger
    assert history_rows(store) == 3  # nor, yet, the read model

    # A new attempt sweeps the old ones out of the read model; they stay in the ledger.
    fail(ledger, user)

    assert [row["outcome"] for row in ledger.ok("history", user)] == ["failed", "success"]
    assert history_rows(store) == 2
    assert ledger.event_count() == recorded + failed_sign_in_events()
    # Replaying the ledger brings back only what is still within 90 days of each attempt.
    ledger.ok("projections", "rebuild", "login_history")
    assert history_rows(store) == 2
    assert len(ledger.ok("history", user)) == 2


def key_attempt(ledger: Ledger, email: str, key: str) -> dict[str, Any]:
    """One API-key sign-in attempt (no password hashing: cheap enough to repeat many times)."""
    result = ledger.run(
        "login", email, "--method", "api-key", "--ip", UK_IP, "--user-agent", "curl/8.8.0",
        "--api-key-stdin", "--json", stdin=key + "\n",
    )  # fmt: skip
    return dict(json.loads(result.stdout))


def test_a_long_history_stays_in_order_and_complete(ledger: Ledger, user: str) -> None:
    key = ledger.ok("api-keys", "create", user, "--name", "deploys")["key"]
    forged = key[:-4] + "AAAA"
    expected = []
    for n in range(30):
        ledger.at(T0 + timedelta(hours=n))
        if n % 10 == 0:
            succeed(ledger, user)
            expected.append((instant(timedelta(hours=n)), "password", "success", None))
        elif n % 3 == 2:
            assert key_attempt(ledger, user, forged)["outcome"] == "failed"
            expected.append((instant(timedelta(hours=n)), "api", "failed", "invalid_api_key"))
        else:
            assert key_attempt(ledger, user, key)["outcome"] == "success"
            expected.append((instant(timedelta(hours=n)), "api", "success", None))

    history = ledger.ok("history", user)

    shown = [
        (
            r["timestamp"],
            "password" if r["method"] == "password" else "api",
            r["outcome"],
            r["reason"],
        )
        for r in history
    ]
    assert shown == expected[::-1]
    assert len(ledger.ok("history", user, "--days", "1")) == 25  # hours 5..29


# ---- security alerts ---------------------------------------------------------------------------


def alert_times(ledger: Ledger, email: str) -> list[str]:
    alerts = ledger.ok("alerts", email)
    for alert in alerts:
        assert alert["category"] == "security"
        assert alert["kind"]
    return [alert["timestamp"] for alert in alerts]


def test_a_burst_of_failures_raises_one_alert_per_15_minutes(ledger: Ledger, user: str) -> None:
    for minutes in (0, 5, 10):
        fail(ledger.at(T0 + timedelta(minutes=minutes)), user)
    assert alert_times(ledger, user) == [instant(timedelta(0))]

    fail(ledger.at(T0 + timedelta(minutes=14, seconds=59)), user)
    assert alert_times(ledger, user) == [instant(timedelta(0))]

    fail(ledger.at(T0 + timedelta(minutes=16)), user)
    assert alert_times(ledger, user) == [instant(timedelta(minutes=16)), instant(timedelta(0))]


def test_the_alert_says_when_where_and_with_what(ledger: Ledger, user: str) -> None:
    fail(ledger.later(minutes=3, seconds=7), user, ip=UK_IP, user_agent=CHROME_WINDOWS)

    [alert] = ledger.ok("alerts", user)

    assert alert["timestamp"] == "2026-11-14T09:03:07Z"
    assert alert["category"] == "security"
    message = alert["message"]
    for named in ("2026-11-14T09:03:07Z", UK_IP, "United Kingdom", "Chrome 126"):
        assert named in message, (named, message)
    assert PASSWORD not in message and "not-the-password" not in message


def test_no_alert_while_the_category_is_off_and_alerts_resume_when_on(
    ledger: Ledger, user: str
) -> None:
    ledger.ok("user", "alerts", user, "--security", "off")
    fail(ledger, user)
    fail(ledger.later(minutes=20), user)
    assert ledger.ok("alerts", user) == []

    ledger.later(minutes=1).ok("user", "alerts", user, "--security", "on")
    assert ledger.ok("alerts", user) == []  # turning it on does not alert about the past
    fail(ledger.later(minutes=1), user)

    assert alert_times(ledger, user) == [instant(timedelta(minutes=22))]


def test_successful_sign_ins_raise_no_alert(ledger: Ledger, user: str) -> None:
    succeed(ledger, user)
    succeed(ledger.later(minutes=20), user, ip="8.8.8.8", user_agent=SAFARI_IPHONE)

    assert ledger.ok("alerts", user) == []


def test_alerts_belong_to_the_account_that_was_attacked(
    ledger: Ledger, user: str, account: str
) -> None:
    fail(ledger, user)

    assert len(ledger.ok("alerts", user)) == 1
    assert ledger.ok("alerts", account) == []


def test_rebuilding_the_alerts_gives_the_same_alerts(ledger: Ledger, user: str) -> None:
    for minutes in (0, 5, 16, 20, 31):
        fail(ledger.at(T0 + timedelta(minutes=minutes)), user)
    ledger.later(minutes=1).ok("user", "alerts", user, "--security", "off")
    fail(ledger.later(minutes=30), user)
    ledger.later(minutes=1).ok("user", "alerts", user, "--security", "on")
    fail(ledger.later(minutes=1), user)
    succeed(ledger.later(minutes=1), user)
    before = ledger.ok("alerts", user)
    assert [a["timestamp"] for a in before] == [
        instant(timedelta(minutes=64)),
        instant(timedelta(minutes=31)),
        instant(timedelta(minutes=16)),
        instant(timedelta(0)),
    ]

    rebuilt = ledger.ok("projections", "rebuild", "alerts")

    assert rebuilt == {"ok": True, "rebuilt": {"alerts": ledger.event_count()}}
    assert ledger.ok("alerts", user) == before
