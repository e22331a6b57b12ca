"""The OCSF mapping of every kind of ledger event, in memory: which events have an OCSF line,
and that each line conforms to the OCSF schema (tests/ocsf_schema.py). The command-line export
of a whole story, on both stores, is tests/cli/test_export_ocsf.py."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

import ledger
from ledger.account import Account
from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, LedgerEvent
from ledger.organisation import Organisation
from ledger.session import Session
from ledger.sign_in_source import SignInSource
from ledger.sms_code_requests import SmsCodeRequests
from ledger.sso_domain import SsoDomain
from ledger.sso_identity import SsoIdentity
from ledger.unknown_account import UnknownAccountAttempts
from projections.ocsf import ACTIVITIES, Exported, Person, has_ocsf_line, to_ocsf
from tests.ocsf_schema import conform

AT = datetime(2026, 11, 14, 9, 0, 0, 123456, tzinfo=UTC)
ADA = Person(uuid4(), "ada@acme.test", "acme", uuid4())

# Events with no OCSF line, and why (docs/FORMAT.md ("OCSF mapping") says the same).
LEFT_OUT: dict[type[LedgerEvent], str] = {
    Session.Opened: "the same sign-in as the account's LoginSucceeded, saved with it",
    Session.ActivityRecorded: "a session in use, not a sign-in",
    Account.SessionActivityRecorded: "a session in use, not a sign-in",
    Session.FactorProved: "the session's copy of the account's TotpCodeAccepted and the like",
    Account.TotpEnrolmentStarted: "nothing changes until the code confirms it",
    Account.SmsEnrolmentStarted: "nothing changes until the code confirms it",
    Account.SmsLoginCodeSent: "a code texted; its use or refusal has a line",
    Account.PasswordRehashed: "the same password under stronger parameters: nobody changed it",
    Account.SmsLoginCodeRefused: "a code asked for and not texted; nothing changed",
    Organisation.Created: "an organisation, not an account",
    Organisation.MfaRequirementChanged: "an organisation's policy, not an account",
    Organisation.SsoConfigured: "an organisation's policy, not an account",
    SignInSource.Created: "the throttle's bookkeeping; the attempts have lines",
    SignInSource.FailureCounted: "the throttle's bookkeeping; the attempts have lines",
    SignInSource.SmsCodeRequestCounted: "the throttle's bookkeeping, naming no account",
    SmsCodeRequests.Created: "the throttle's bookkeeping, naming no account",
    SmsCodeRequests.SmsCodeRequested: "the throttle's bookkeeping, naming no account",
    SsoDomain.Claimed: "which organisation an e-mail domain signs in through",
    SsoDomain.Reclaimed: "which organisation an e-mail domain signs in through",
    SsoDomain.Released: "which organisation an e-mail domain signs in through",
    SsoIdentity.Bound: "the IdP identity's side of a sign-in that has its own line",
    SsoIdentity.TakenOver: "the IdP identity's side of a sign-in that has its own line",
}


def recorded_event_classes() -> set[type[LedgerEvent]]:
    """Every kind of event the ledger records, found in its modules."""
    for module in pkgutil.iter_modules(ledger.__path__):
        importlib.import_module(f"ledger.{module.name}")

    def subclasses(cls: type[LedgerEvent]) -> Iterator[type[LedgerEvent]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    bases = {LedgerCreatedEvent, LedgerAggregate.Event, LedgerAggregate.Created}
    # Every aggregate gets an `Event` base and a `Created` from the library; these three begin
    # their streams with an event of their own.
    unused = {Session.Created, SsoDomain.Created, SsoIdentity.Created}
    return {
        cls
        for cls in subclasses(LedgerEvent)
        if cls not in bases | unused
        and cls.__name__ != "Event"
        # The sign-in mixin's events are recorded as the Account's subclasses of them.
        and cls.__module__ != "ledger.sign_in"
        # An event class written outside its aggregate's `Event` is recorded as the library's
        # subclass of it, under the same name.
        and not any(sub.__qualname__ == cls.__qualname__ for sub in cls.__subclasses__())
    }


def test_every_kind_of_event_has_an_ocsf_line_or_a_reason_not_to() -> None:
    recorded = recorded_event_classes()
    assert len(recorded) > 40  # the search found them (so that this test could fail)

    assert set(ACTIVITIES) | set(LEFT_OUT) == recorded
    assert set(ACTIVITIES).isdisjoint(LEFT_OUT)


DETAILS: dict[str, Any] = {
    "method": "password",
    "factor": "totp",
    "reason": "invalid_mfa_code",
    "session_id": "s-1",
    "key_id": "k-1",
    "workspace": "design",
    "role": "member",
    "phone": "+44•••••1234",
}


def exported(cls: type[LedgerEvent], **details: Any) -> Exported:
    event = cls.model_construct(
        originator_id=ADA.uid, originator_version=7, timestamp=AT, actor_id=ADA.uid
    )
    record = {
        "position": 42,
        "timestamp": "2026-11-14T09:00:00.123Z",
        "account": ADA.email,
        "org": ADA.org,
        "event": cls.__name__,
        "actor": ADA.email,
        "ip": "81.2.69.160",
        "location": "Gamlingay, United Kingdom",
        "user_agent": "Mozilla/5.0",
        "details": DETAILS | details,
    }
    return Exported(event, record, ADA, "GB")


@pytest.mark.parametrize("cls", sorted(ACTIVITIES, key=lambda cls: cls.__qualname__))
def test_every_mapped_event_conforms_to_its_ocsf_class(cls: type[LedgerEvent]) -> None:
    ocsf = to_ocsf(exported(cls))

    model = conform(ocsf)
    assert has_ocsf_line(cls.model_construct())
    assert model.class_uid in (3001, 3002)
    assert ocsf["time"] == 1794646800123  # milliseconds, as the record's timestamp says
    assert ocsf["metadata"]["uid"] == f"{ADA.uid}:7"
    assert ocsf["metadata"]["sequence"] == 42
    assert ocsf["user"]["uid"] == str(ADA.uid)
    assert ocsf["src_endpoint"] == {
        "ip": "81.2.69.160",
        "location": {"desc": "Gamlingay, United Kingdom", "country": "GB"},
    }
    assert ocsf["unmapped"]["details"] == exported(cls).details


def test_a_sign_in_through_sso_is_openid_with_the_idp_as_issuer() -> None:
    evidence = {"issuer": "https://idp.acme.test", "subject": "sub-ada"}
    sso = exported(Account.LoginSucceeded, method="sso", factor="idp", sso_evidence=evidence)

    ocsf = conform(to_ocsf(sso))

    assert (ocsf.auth_protocol_id, ocsf.auth_protocol) == (4, "OpenID")
    assert ocsf.is_mfa is True
    assert ocsf.session.issuer == "https://idp.acme.test"


def test_a_password_sign_in_names_its_factors_and_whether_it_was_mfa() -> None:
    with_code = conform(to_ocsf(exported(Account.LoginSucceeded)))
    password_only = conform(to_ocsf(exported(Account.LoginSucceeded, factor=None)))

    assert [f.factor_type_id for f in with_code.auth_factors] == [11, 7]  # password, OTP
    assert (with_code.is_mfa, with_code.session.is_mfa) == (True, True)
    assert [f.factor_type_id for f in password_only.auth_factors] == [11]
    assert password_only.is_mfa is False
    assert with_code.auth_protocol_id is None  # only SSO has a protocol OCSF names


@pytest.mark.parametrize(
    ("cls", "reason", "severity"),
    [
        (Account.LoginSucceeded, None, 1),
        (Account.LoginFailed, "invalid_password", 2),
        (Account.LoginFailed, "locked_out", 3),
        (Account.LoginFailed, "too_many_attempts", 3),
        (UnknownAccountAttempts.Attempted, "unknown_user", 2),
        (UnknownAccountAttempts.Attempted, "locked_out", 3),
        (Account.VerificationFailed, "invalid_mfa_code", 2),
        (Account.VerificationFailed, "locked_out", 3),
        (Account.PasswordChanged, None, 1),
    ],
)
def test_failures_are_low_and_lockouts_medium_above_informational(
    cls: type[LedgerEvent], reason: str | None, severity: int
) -> None:
    ocsf = conform(to_ocsf(exported(cls, reason=reason)))

    assert ocsf.severity_id == severity
    failed = severity > 1
    assert ocsf.status_id == (2 if failed else 1)
    assert ocsf.status_code == (reason if failed else None)


def test_an_erased_account_or_address_names_no_email_address_and_no_source() -> None:
    erased = exported(Account.WorkspaceMembershipGranted)
    erased.record.update(ip="[erased]", location="[erased]", account="[erased]")
    nobody = Exported(erased.event, erased.record, Person(ADA.uid, "[erased]"), None)

    ocsf = to_ocsf(nobody)

    conform(ocsf)
    assert ocsf["user"] == {"name": "[erased]", "uid": str(ADA.uid)}
    assert "src_endpoint" not in ocsf


def test_an_address_with_no_account_is_named_without_an_account_id() -> None:
    attempt = exported(UnknownAccountAttempts.Created, reason="unknown_user")
    stranger = Exported(attempt.event, attempt.record, Person(None, "eve@acme.test"), "GB")

    ocsf = to_ocsf(stranger)

    conform(ocsf)
    assert ocsf["user"] == {"name": "eve@acme.test", "email_addr": "eve@acme.test"}


def test_a_workspace_revocation_names_the_workspace_it_ends() -> None:
    details = {k: v for k, v in DETAILS.items() if k != "role"}
    revoked = exported(Account.WorkspaceMembershipRevoked)
    revoked.record["details"] = details

    ocsf = conform(to_ocsf(revoked))

    assert (ocsf.activity_id, ocsf.policy.group.name, ocsf.policy.name) == (8, "design", None)
