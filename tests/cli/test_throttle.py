"""The per-source throttle: at most 100 failed sign-ins per address (IPv6: per /64) in 24 hours,
across every account, then `too_many_attempts` until the window clears.

The failures are events of the source's own stream, saved with each attempt, so the throttle is
replayable: it holds across processes and restarts, and the refusals are in the accounts'
histories and timelines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Ledger

PASSWORD = "s3cret-pass"
ATTACKER = "198.51.100.7"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def members(ledger: Ledger) -> list[str]:
    ledger.ok("org", "create", "acme")
    emails = [f"user{n}@acme.test" for n in range(10)]
    for email in emails:
        ledger.ok("user", "create", email, "--org", "acme", "--password-stdin", stdin=PASSWORD)
    return emails


def sign_in(
    ledger: Ledger, email: str, secret: str, ip: str = ATTACKER, method: str = "password"
) -> dict[str, Any]:
    result = ledger.run(
        *("login", email, "--method", method, "--ip", ip, "--user-agent", BROWSER),
        *(f"--{method}-stdin", "--json"),
        stdin=secret + "\n",
    )
    assert result.exit_code in (0, 1), result.output
    return dict(json.loads(result.stdout))


def spray(ledger: Ledger, emails: list[str], ip: str = ATTACKER, rounds: int = 10) -> None:
    """Guessing across accounts: every account, a wrong API key each, `rounds` times (10 x 10 =
    100). Keys, not passwords: they count alike, and cost the test no password hashing."""
    for n in range(rounds):
        for email in emails:
            guess = sign_in(ledger.later(seconds=1), email, f"guess-{n}", ip, "api-key")
            assert guess["outcome"] == "failed"


def test_a_hundred_failures_from_one_address_stop_it_for_every_account(
    ledger: Ledger, members: list[str]
) -> None:
    ledger.ok(
        "user", "create", "eve@acme.test", "--org", "acme", "--password-stdin", stdin=PASSWORD
    )
    spray(ledger, members)

    # Even the right password of an account nobody guessed at is not looked at now.
    throttled = sign_in(ledger.later(seconds=1), "eve@acme.test", PASSWORD)
    assert throttled["reason"] == "too_many_attempts"
    assert throttled["error"]["code"] == "too_many_attempts"
    unknown = sign_in(ledger, "nobody@acme.test", PASSWORD)
    assert unknown["reason"] == "too_many_attempts"
    # It is in her history, as what it was.
    assert (
        ledger.ok("history", "eve@acme.test")[0] | {"reason": "too_many_attempts"}
        == (ledger.ok("history", "eve@acme.test")[0])
    )
    # Another address is not held back.
    assert sign_in(ledger, "eve@acme.test", PASSWORD, ip="203.0.113.5")["outcome"] == "success"


def test_the_window_clears_a_day_after_the_failures(ledger: Ledger, members: list[str]) -> None:
    spray(ledger, members)
    assert sign_in(ledger.later(hours=23), members[0], PASSWORD)["reason"] == "too_many_attempts"

    assert sign_in(ledger.later(hours=1), members[0], PASSWORD)["outcome"] == "success"


def test_refusals_by_the_throttle_do_not_prolong_it(ledger: Ledger, members: list[str]) -> None:
    spray(ledger, members)
    for _ in range(20):
        assert sign_in(ledger.later(minutes=30), members[0], "x")["reason"] == "too_many_attempts"

    assert sign_in(ledger.later(hours=14), members[0], PASSWORD)["outcome"] == "success"


def test_an_ipv6_network_counts_as_one_source(ledger: Ledger, members: list[str]) -> None:
    for n in range(100):
        address = f"2001:db8:1:2::{n + 1:x}"
        email = members[n % len(members)]
        guess = sign_in(ledger.later(seconds=1), email, "wrong", address, "api-key")
        assert guess["outcome"] == "failed"

    ledger.ok(
        "user", "create", "eve@acme.test", "--org", "acme", "--password-stdin", stdin=PASSWORD
    )
    eve = "eve@acme.test"
    assert sign_in(ledger, eve, PASSWORD, "2001:db8:1:2:ffff::1")["reason"] == "too_many_attempts"
    assert sign_in(ledger, eve, PASSWORD, "2001:db8:1:3::1")["outcome"] == "success"


def test_the_throttle_is_rebuilt_from_the_ledger_and_verifies(
    ledger: Ledger, members: list[str]
) -> None:
    spray(ledger, members, rounds=9)
    ninety = ledger.event_count()
    spray(ledger, members, rounds=1)

    # A fresh process (every CLI call is one) sees the count the events hold.
    assert sign_in(ledger.later(seconds=1), members[0], PASSWORD)["reason"] == "too_many_attempts"
    # Each failure is two events (the attempt and its count), the refusal one.
    assert ledger.event_count() == ninety + 2 * len(members) + 1
    assert ledger.ok("verify", "--store")["ok"] is True
