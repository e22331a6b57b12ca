"""Enrolling and disabling factors in memory: an account, a clock and a fake sealer; no store.

What the Security tab relies on: an enrolment started and not confirmed keeps its secret (an
app may have scanned it), and the account says why a factor may not be disabled before anyone
asks it to disable one.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pyotp
import pytest

from ledger.account import Account
from ledger.errors import FactorNotEnabled, InvalidMfaCode, MfaRequiredByOrg
from ledger.mfa_requirement import MfaRequirement
from tests.unit.test_sessions import T0, FakeSealer, stamp

ANY = MfaRequirement(since=T0, grace=timedelta(days=7))
APP_ONLY = MfaRequirement(since=T0, grace=timedelta(days=7), methods="totp")


def new_account() -> Account:
    return Account.create(uuid4(), uuid4(), "ada@acme.test", None, stamp(T0))


def with_app(account: Account) -> Account:
    secret = account.start_totp_enrolment(stamp(T0))
    account.confirm_totp(pyotp.TOTP(secret).at(T0), stamp(T0))
    return account


def with_sms(account: Account) -> Account:
    code = account.start_sms_enrolment("+14155550123", stamp(T0))
    account.confirm_sms(code, stamp(T0))
    return account


def test_a_mistyped_code_leaves_the_same_secret_waiting_for_the_right_one() -> None:
    account = new_account()
    secret = account.start_totp_enrolment(stamp(T0))
    with pytest.raises(InvalidMfaCode):
        account.confirm_totp(
            "000000" if pyotp.TOTP(secret).at(T0) != "000000" else "111111", stamp(T0)
        )

    assert account.pending_totp_secret(FakeSealer()) == secret
    assert account.start_totp_enrolment(stamp(T0), keep_pending=True) == secret
    account.confirm_totp(pyotp.TOTP(secret).at(T0), stamp(T0))
    assert account.enabled_factors == ["totp"]
    assert account.pending_totp_secret(FakeSealer()) is None


def test_keeping_the_pending_secret_records_nothing_and_starting_afresh_draws_a_new_one() -> None:
    account = new_account()
    first = account.start_totp_enrolment(stamp(T0))
    recorded = len(account.collect_events())

    assert account.start_totp_enrolment(stamp(T0), keep_pending=True) == first
    assert account.collect_events() == []
    assert account.start_totp_enrolment(stamp(T0)) != first
    assert recorded == 2  # created, enrolment started


def test_with_no_requirement_any_enabled_factor_may_be_disabled() -> None:
    account = with_app(new_account())
    assert account.refusal_to_disable("totp", None) is None
    assert isinstance(account.refusal_to_disable("sms", None), FactorNotEnabled)


def test_a_required_mfa_keeps_the_last_factor() -> None:
    account = with_app(new_account())
    refused = account.refusal_to_disable("totp", ANY)
    assert isinstance(refused, MfaRequiredByOrg)
    with pytest.raises(MfaRequiredByOrg):
        account.disable_factor("totp", ANY, stamp(T0))

    with_sms(account)
    assert account.refusal_to_disable("totp", ANY) is None
    assert account.refusal_to_disable("sms", ANY) is None


def test_when_only_the_app_counts_the_app_is_kept_and_sms_may_go() -> None:
    account = with_sms(with_app(new_account()))
    assert isinstance(account.refusal_to_disable("totp", APP_ONLY), MfaRequiredByOrg)
    assert account.refusal_to_disable("sms", APP_ONLY) is None
    account.disable_factor("sms", APP_ONLY, stamp(T0))
    assert account.enabled_factors == ["totp"]
