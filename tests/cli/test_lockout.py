"""Brute-force lockout, as an attacker (and then the rightful user) meets it on the command line.

Ten consecutive counted failures lock sign-in for 15 minutes, then 30, 60... on each further
lock; a success resets the count. The lock is derived from recorded events.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, profiles

from ledger import passwords
from tests.cli.test_login import (
    PASSWORD,
    create_user,
    enable_totp,
    failed,
    history,
    sign_in,
    totp_now,
    with_key,
    without_timestamp,
    wrong,
)
from tests.conftest import Ledger

LOCKED = {"outcome": "failed", "reason": "locked_out"}
SUCCESS = "success"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests sign in dozens of times; lockout does not depend on argon2's cost."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def ada(ledger: Ledger) -> str:
    ledger.ok("org", "create", "acme")
    return create_user(ledger, "ada@acme.test")


def fail_passwords(ledger: Ledger, email: str, times: int) -> None:
    """`times` wrong passwords, a second apart; none of them may be refused as locked."""
    for _ in range(times):
        denied = sign_in(ledger.later(seconds=1), email, "wrong-password")
        assert denied == {"outcome": "failed", "reason": "invalid_password"}


def signs_in(ledger: Ledger, email: str, *extra: str) -> bool:
    answer = sign_in(ledger, email, PASSWORD, *extra)
    assert answer["outcome"] == SUCCESS or answer == LOCKED, answer
    return answer["outcome"] == SUCCESS


def test_ten_wrong_passwords_lock_sign_in_for_fifteen_minutes(ledger: Ledger, ada: str) -> None:
    fail_passwords(ledger, ada, 10)
    tenth = ledger.now

    assert sign_in(ledger.later(seconds=1), ada) == LOCKED  # even the right password

    entries = history(ledger, ada)
    assert len(entries) == 11
    assert without_timestamp(entries[0]) == failed("locked_out")
    assert [e["reason"] for e in entries[1:]] == ["invalid_password"] * 10
    assert not signs_in(ledger.at(tenth + timedelta(minutes=14, seconds=59)), ada)
    assert signs_in(ledger.at(tenth + timedelta(minutes=15)), ada)


def test_the_refusal_says_until_when(ledger: Ledger, ada: str) -> None:
    fail_passwords(ledger, ada, 10)  # the tenth at 09:00:10

    result = ledger.later(minutes=1).run(
        "login",
        ada,
        "--method",
        "password",
        "--ip",
        "81.2.69.160",
        "--user-agent",
        "curl/8.4.0",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )

    assert result.exit_code == 1
    assert "locked_out" in result.stderr
    assert "09:15:10" in result.stderr


def test_a_success_resets_the_count(ledger: Ledger, ada: str) -> None:
    fail_passwords(ledger, ada, 9)
    assert signs_in(ledger.later(seconds=1), ada)
    fail_passwords(ledger, ada, 9)

    assert signs_in(ledger.later(seconds=1), ada)


def test_each_further_lock_lasts_twice_as_long(ledger: Ledger, ada: str) -> None:
    fail_passwords(ledger, ada, 10)
    ledger.later(minutes=15)
    fail_passwords(ledger, ada, 10)
    second_lock = ledger.now

    assert not signs_in(ledger.at(second_lock + timedelta(minutes=29)), ada)
    assert signs_in(ledger.at(second_lock + timedelta(minutes=30)), ada)


def test_the_lock_holds_in_a_fresh_process(ledger: Ledger, ada: str) -> None:
    fail_passwords(ledger, ada, 10)

    fresh = Ledger(ledger.url).at(ledger.later(minutes=5).now)

    assert sign_in(fresh, ada) == LOCKED
    assert signs_in(fresh.later(minutes=10, seconds=1), ada)


def test_attempts_while_locked_are_recorded_but_neither_extend_nor_count(
    ledger: Ledger, ada: str
) -> None:
    fail_passwords(ledger, ada, 10)
    tenth = ledger.now
    ledger.later(minutes=5)
    for _ in range(9):
        assert sign_in(ledger.later(seconds=1), ada, "wrong-password") == LOCKED
    assert [e["reason"] for e in history(ledger, ada)[:9]] == ["locked_out"] * 9

    # Had those nine counted, this would be the twentieth failure and a second lock.
    ledger.at(tenth + timedelta(minutes=15))
    assert sign_in(ledger, ada, "wrong-password") == {
        "outcome": "failed",
        "reason": "invalid_password",
    }
    assert signs_in(ledger.later(seconds=1), ada)


def test_wrong_second_factor_codes_count_too(ledger: Ledger, ada: str) -> None:
    authenticator, _ = enable_totp(ledger, ada)
    for _ in range(10):
        code = wrong(totp_now(ledger.later(seconds=1), authenticator))
        denied = sign_in(ledger, ada, PASSWORD, "--totp", code)
        assert denied == {"outcome": "failed", "reason": "invalid_mfa_code"}

    ledger.later(seconds=30)
    assert sign_in(ledger, ada, PASSWORD, "--totp", totp_now(ledger, authenticator)) == LOCKED


def test_a_missing_second_factor_does_not_count(ledger: Ledger, ada: str) -> None:
    authenticator, _ = enable_totp(ledger, ada)
    for _ in range(10):
        assert sign_in(ledger.later(seconds=1), ada) == {
            "outcome": "failed",
            "reason": "mfa_required",
        }

    assert signs_in(ledger, ada, "--totp", totp_now(ledger, authenticator))


def test_bad_api_keys_count_too(ledger: Ledger, ada: str) -> None:
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for _ in range(10):
        denied = with_key(ledger.later(seconds=1), ada, forged)
        assert denied == {"outcome": "failed", "reason": "invalid_api_key"}

    assert with_key(ledger.later(seconds=1), ada, key) == LOCKED
    assert not signs_in(ledger, ada)


def test_code_checks_outside_sign_in_are_refused_while_locked(ledger: Ledger, ada: str) -> None:
    authenticator, recovery_codes = enable_totp(ledger, ada)
    fail_passwords(ledger, ada, 10)
    tenth = ledger.now

    ledger.later(seconds=30)
    code = totp_now(ledger, authenticator)
    ledger.refused("mfa", "totp", "verify", ada, code, code="locked_out")
    ledger.refused("mfa", "recovery-codes", "use", ada, recovery_codes[0], code="locked_out")

    # Refused, not spent: both still work once the lock is over.
    ledger.at(tenth + timedelta(minutes=15))
    assert ledger.ok("mfa", "totp", "verify", ada, totp_now(ledger, authenticator))["verified"]
    assert signs_in(ledger.later(seconds=30), ada, "--recovery-code", recovery_codes[0])


def test_an_address_with_no_account_locks_out_alike_so_lockout_reveals_nothing(
    ledger: Ledger, ada: str
) -> None:
    ghost = "nobody@acme.test"
    fail_passwords(ledger, ghost, 10)
    fail_passwords(ledger, ada, 10)

    ledger.later(seconds=1)
    assert sign_in(ledger, ghost, PASSWORD) == LOCKED
    assert sign_in(ledger, ada, "wrong-password") == LOCKED

    ledger.later(minutes=15)
    assert sign_in(ledger, ghost, PASSWORD) == {"outcome": "failed", "reason": "invalid_password"}
