"""An account's story told through the command layer, and what the aggregate keeps of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pyotp
import pytest

from commands import factors, organisations, recovery_codes, sms, totp, users, workspaces
from commands.services import Services
from ledger.account import Account
from ledger.application import SNAPSHOT_INTERVAL
from ledger.clock import FixedClock
from ledger.errors import (
    AccountNotFound,
    ClockBehind,
    InvalidRecoveryCode,
    MfaCodeReused,
    MfaRequiredByOrg,
    OrganisationNotFound,
)
from ledger.sms_gateway import TextMessage
from projections.queries import account_audit_log, account_mfa_status, mfa_status_of
from tests.conftest import T0

EMAIL = "ada@acme.test"


class PhoneInbox:
    """An SMS gateway that hands texts straight to the test, like a phone would."""

    def __init__(self) -> None:
        self.texts: list[TextMessage] = []

    def send(self, message: TextMessage) -> None:
        self.texts.append(message)

    def last_code(self) -> str:
        return next(w.rstrip(".") for w in self.texts[-1].body.split() if w.rstrip(".").isdigit())


def tick(services: Services, **delta: float) -> None:
    services.clock = FixedClock(services.now() + timedelta(**delta))


@pytest.fixture
def ada(services: Services) -> str:
    organisations.create_organisation(services, organisations.CreateOrganisation(slug="acme"))
    users.create_user(services, users.CreateUser(email=EMAIL, org="acme"))
    return EMAIL


def enrol_totp(services: Services) -> tuple[str, list[str]]:
    secret = totp.enrol_totp(services, totp.EnrolTotp(email=EMAIL)).secret
    code = pyotp.TOTP(secret).at(services.now())
    return secret, totp.confirm_totp(services, totp.ConfirmTotp(email=EMAIL, code=code))


def test_the_mfa_state_asked_by_account_reads_every_decision_recorded_before_it(
    services: Services, ada: str
) -> None:
    """Read-your-writes in one round trip: whether the read models are behind is asked with
    the question itself, and they catch up first when they are."""
    account_id = services.store.account_id(ada)
    assert mfa_status_of(services.store, account_id) == account_mfa_status(services.store, ada)

    enrol_totp(services)

    status = mfa_status_of(services.store, account_id)
    assert status is not None
    assert status["totp"]["enabled"] is True
    assert status["recovery_codes"]["remaining"] == 10
    assert mfa_status_of(services.store, uuid4()) is None


def test_an_account_with_both_factors_under_a_strict_policy(services: Services, ada: str) -> None:
    inbox = PhoneInbox()
    services.gateway = inbox
    _, codes = enrol_totp(services)
    assert len(codes) == 10
    organisations.require_mfa(services, organisations.RequireMfa(slug="acme", required=True))

    tick(services, minutes=1)
    sms.enrol_sms(services, sms.EnrolSms(email=ada, phone="+14155550123"))
    assert inbox.texts[-1].to == "+14155550123"
    assert sms.confirm_sms(services, sms.ConfirmSms(email=ada, code=inbox.last_code())) == []

    factors.disable_factor(services, factors.DisableFactor(email=ada, factor="totp"))
    with pytest.raises(MfaRequiredByOrg):
        factors.disable_factor(services, factors.DisableFactor(email=ada, factor="sms"))

    status = account_mfa_status(services.store, ada)
    assert status["totp"]["enabled"] is False
    assert status["sms"] == {"enabled": True, "phone": "+1•••••0123"}
    assert status["recovery_codes"]["remaining"] == 10
    assert status["org_requires_mfa"] is True
    actions = [entry["action"] for entry in account_audit_log(services.store, ada)]
    assert actions[:4] == ["mfa_disabled", "mfa_enabled", "recovery_codes_generated", "mfa_enabled"]


def test_recovery_codes_work_once_and_die_with_regeneration(services: Services, ada: str) -> None:
    _, first_set = enrol_totp(services)
    spend = recovery_codes.UseRecoveryCode(email=ada, code=first_set[0])
    assert recovery_codes.use_recovery_code(services, spend) == 9
    with pytest.raises(InvalidRecoveryCode):
        recovery_codes.use_recovery_code(services, spend)

    regenerate = recovery_codes.RegenerateRecoveryCodes(email=ada)
    second_set = recovery_codes.regenerate_recovery_codes(services, regenerate)
    with pytest.raises(InvalidRecoveryCode):
        recovery_codes.use_recovery_code(
            services, recovery_codes.UseRecoveryCode(email=ada, code=first_set[1])
        )
    remaining = recovery_codes.use_recovery_code(
        services, recovery_codes.UseRecoveryCode(email=ada, code=second_set[1])
    )
    assert remaining == 9
    assert account_mfa_status(services.store, ada)["recovery_codes"]["remaining"] == 9


def test_refusals_name_what_is_missing_and_record_nothing(services: Services, ada: str) -> None:
    before = services.store.event_count()
    with pytest.raises(AccountNotFound, match=r"nobody@acme\.test"):
        totp.enrol_totp(services, totp.EnrolTotp(email="nobody@acme.test"))
    with pytest.raises(OrganisationNotFound, match="globex"):
        users.create_user(services, users.CreateUser(email="x@globex.test", org="globex"))
    services.clock = FixedClock(T0 - timedelta(seconds=1))
    with pytest.raises(ClockBehind):
        workspaces.grant_workspace(
            services, workspaces.GrantWorkspace(email=ada, workspace="design", role="member")
        )
    assert services.store.event_count() == before


def test_a_refused_code_is_kept_in_the_ledger_even_though_the_command_failed(
    services: Services, ada: str
) -> None:
    secret, _ = enrol_totp(services)
    code = pyotp.TOTP(secret).at(services.now())
    before = services.store.event_count()
    with pytest.raises(MfaCodeReused):
        totp.verify_totp(services, totp.VerifyTotp(email=ada, code=code))
    assert services.store.event_count() == before + 1
    last = list(services.store.app.events.get(services.store.account_id(ada)))[-1]
    assert isinstance(last, Account.VerificationFailed)
    assert (last.factor, last.reason) == ("totp", "mfa_code_reused")


def replayed_without_snapshots(services: Services, account_id: Any) -> Account:
    account = None
    for event in services.store.app.events.get(account_id):
        account = event.mutate(account)
    assert isinstance(account, Account)
    return account


def test_long_histories_load_from_snapshots_with_identical_state(
    services: Services, ada: str
) -> None:
    for i in range(SNAPSHOT_INTERVAL + 20):
        tick(services, seconds=1)
        role = "admin" if i % 2 else "member"
        workspaces.grant_workspace(
            services, workspaces.GrantWorkspace(email=ada, workspace=f"w{i % 7}", role=role)
        )
    account_id = services.store.account_id(ada)
    snapshots = (
        list(services.store.app.snapshots.get(account_id)) if services.store.app.snapshots else []
    )
    assert [s.originator_version for s in snapshots] == [SNAPSHOT_INTERVAL]

    loaded = services.store.account(ada)
    replayed = replayed_without_snapshots(services, account_id)
    assert loaded.version == replayed.version == SNAPSHOT_INTERVAL + 21
    assert loaded.workspaces == replayed.workspaces
    assert loaded.modified_on == replayed.modified_on
