"""Password hashes made with older argon2 parameters are replaced at the next successful
sign-in, in memory: an account, a clock and a fake sealer; no store."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from argon2 import PasswordHasher

from ledger import passwords
from ledger.account import Account
from ledger.errors import LoginDenied
from ledger.sign_in import SignInAttempt
from tests.unit.test_sessions import CLIENT, T0, stamp

PASSWORD = "correct horse 42"


def account_hashed_by_argon2_defaults() -> Account:
    """As an earlier release hashed it: argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes)."""
    old_hash = PasswordHasher().hash(PASSWORD)
    return Account.create(uuid4(), uuid4(), "ada@acme.test", old_hash, stamp(T0))


def sign_in(account: Account, password: str, minutes: int) -> None:
    attempt = SignInAttempt(method="password", client=CLIENT, password=password)
    account.log_in(attempt, None, stamp(T0 + timedelta(minutes=minutes)))


def recorded(account: Account) -> list[str]:
    return [type(event).__name__ for event in account.collect_events()]


def test_todays_parameters_are_owasps_minimum_for_argon2id() -> None:
    parameters = passwords._hasher
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19 * 1024,
        2,
        1,
    )
    assert passwords.hash_password(PASSWORD).startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_an_old_hash_is_replaced_once_at_the_next_successful_sign_in() -> None:
    account = account_hashed_by_argon2_defaults()
    recorded(account)
    with pytest.raises(LoginDenied):
        sign_in(account, "wrong password", 1)
    assert recorded(account) == ["LoginFailed"]  # a wrong password changes nothing

    sign_in(account, PASSWORD, 2)
    assert recorded(account) == ["PasswordRehashed", "LoginSucceeded"]
    assert account.password_hash is not None
    assert not passwords.needs_rehash(account.password_hash)
    assert passwords.verify_password(account.password_hash, PASSWORD)

    sign_in(account, PASSWORD, 3)
    assert recorded(account) == ["LoginSucceeded"]
