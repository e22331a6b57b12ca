"""Ledger events as OCSF events, for a SIEM: `export --format ocsf`.

OCSF 1.7.0, the newest release whose schema the test suite's validating package (pydantic-ocsf)
ships. Sign-ins, sign-outs, session revocations and second-factor checks are Authentication
(3002); changes to an account (created, password, factors, recovery codes, API keys, roles,
alerts, erasure) are Account Change (3001). An event that is neither (a step in progress, the
session's copy of an act its account records, an organisation's settings, the throttle's and
SSO's bookkeeping) has no OCSF line (`has_ocsf_line`). The table is in docs/FORMAT.md ("OCSF
mapping"). This module builds plain dictionaries: nothing of OCSF's is needed at run time.

What OCSF has no attribute for rides in `unmapped`: the ledger's own description of the event
(`details`) and, once written, the record's chain (projections.export_files).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import epoch_ms
from ledger.events import LedgerEvent
from ledger.organisation import Organisation
from ledger.session import Session
from ledger.sign_in import THROTTLED
from ledger.unknown_account import LOCKED_OUT, UnknownAccountAttempts
from projections.framework import ERASED

OCSF_VERSION = "1.7.0"
IAM = (3, "Identity & Access Management")
AUTHENTICATION = (3002, "Authentication")
ACCOUNT_CHANGE = (3001, "Account Change")
OTHER = 99  # OCSF's activity for what its list does not name; the name is then ours

SUCCESS, FAILURE = (1, "Success"), (2, "Failure")
INFORMATIONAL, LOW, MEDIUM = (1, "Informational"), (2, "Low"), (3, "Medium")
OPENID = (4, "OpenID")
# Refusals that mean an account or a source is under attack, not a mistyped secret.
LOCKOUTS = frozenset({LOCKED_OUT, THROTTLED})

# The factors a sign-in or an account change names, as OCSF auth factors.
FACTORS: dict[str, dict[str, Any]] = {
    "password": {"factor_type_id": 11, "factor_type": "Password"},
    "totp": {"factor_type_id": 7, "factor_type": "OTP", "is_totp": True},
    "sms": {"factor_type_id": 1, "factor_type": "SMS"},
    "recovery_code": {"factor_type_id": OTHER, "factor_type": "Recovery code"},
    "api_key": {"factor_type_id": OTHER, "factor_type": "API key"},
    "idp": {"factor_type_id": OTHER, "factor_type": "Identity provider MFA"},
}

Attributes = Callable[["Exported"], dict[str, Any]]


@dataclass(frozen=True)
class Person:
    """Whom an event names: an account's id (None for an address with no account) and the
    e-mail address ("[erased]" once erased, None when unknown)."""

    uid: UUID | None
    email: str | None
    org: str | None = None  # the organisation's slug
    org_uid: UUID | None = None


@dataclass(frozen=True)
class Exported:
    """One ledger event as the export has described it (projections.exports)."""

    event: LedgerEvent
    record: dict[str, Any]  # the JSON lines record: opened, located, secrets left out
    user: Person
    country_code: str | None

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.record["details"])


@dataclass(frozen=True)
class Activity:
    ocsf_class: tuple[int, str]
    activity: tuple[int, str]
    attributes: Attributes = lambda exported: {}
    failed: bool = False


def has_ocsf_line(event: LedgerEvent) -> bool:
    return type(event) in ACTIVITIES


def to_ocsf(exported: Exported) -> dict[str, Any]:
    """The OCSF event for one ledger event that has one (`has_ocsf_line`)."""
    activity = ACTIVITIES[type(exported.event)]
    record, event = exported.record, exported.event
    (class_uid, class_name), (activity_id, activity_name) = activity.ocsf_class, activity.activity
    reason = exported.details.get("reason")
    return {
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": IAM[0],
        "category_name": IAM[1],
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        **_pair("severity", _severity(activity.failed, reason)),
        **_pair("status", FAILURE if activity.failed else SUCCESS),
        **({"status_code": reason} if activity.failed and reason else {}),
        "time": epoch_ms(event.timestamp),
        "metadata": {
            "version": OCSF_VERSION,
            "product": _product(),
            "uid": f"{event.originator_id}:{event.originator_version}",
            "sequence": record["position"],
            "event_code": record["event"],
        },
        "user": _user(exported.user),
        **_actor(event, record),
        **_source(record, exported.country_code),
        **({"http_request": {"user_agent": record["user_agent"]}} if record["user_agent"] else {}),
        **activity.attributes(exported),
        "unmapped": {"details": record["details"]},
    }


def _pair(name: str, value: tuple[int, str]) -> dict[str, Any]:
    """An OCSF enum attribute and its caption: `severity_id` and `severity`."""
    return {f"{name}_id": value[0], name: value[1]}


def _severity(failed: bool, reason: str | None) -> tuple[int, str]:
    if not failed:
        return INFORMATIONAL
    return MEDIUM if reason in LOCKOUTS else LOW


@functools.cache
def _product() -> dict[str, str]:
    return {
        "name": "Flero security ledger",
        "vendor_name": "Flero",
        "version": metadata.version("flero-ledger"),
    }


def _user(person: Person) -> dict[str, Any]:
    user: dict[str, Any] = {"name": person.email}
    if person.email and "@" in person.email:
        user["email_addr"] = person.email
    if person.uid is not None:
        user["uid"] = str(person.uid)
    if person.org is not None:
        user["org"] = {"name": person.org, "uid": str(person.org_uid)}
    return user


def _actor(event: LedgerEvent, record: dict[str, Any]) -> dict[str, Any]:
    if event.actor_id is None:
        return {}
    return {"actor": {"user": {"name": record["actor"], "uid": str(event.actor_id)}}}


def _source(record: dict[str, Any], country_code: str | None) -> dict[str, Any]:
    ip = record["ip"]
    if not ip or ip == ERASED:
        return {}
    location = {"desc": record["location"], **({"country": country_code} if country_code else {})}
    return {"src_endpoint": {"ip": ip, "location": location}}


# ---- what each kind of event adds ------------------------------------------------------------


def _factors(*names: str | None) -> dict[str, Any]:
    return {"auth_factors": [FACTORS[name] for name in names if name]}


def _sign_in(exported: Exported) -> dict[str, Any]:
    """A sign-in attempt: the credential, the second factor, the protocol and the session."""
    details = exported.details
    method, factor = details["method"], details.get("factor")
    first = None if method == "sso" else method  # the identity provider checked the password
    attributes = {**_factors(first, factor), "is_mfa": factor is not None}
    if method == "sso":
        attributes |= _pair("auth_protocol", OPENID)
    if "session_id" in details:
        attributes["session"] = {
            "uid": details["session_id"],
            "created_time": epoch_ms(exported.event.timestamp),
            "is_mfa": factor is not None,
            **_issuer(details.get("sso_evidence")),
        }
    return attributes


def _issuer(evidence: Any) -> dict[str, Any]:
    issuer = evidence.get("issuer") if isinstance(evidence, dict) else None
    return {"issuer": issuer} if issuer else {}


def _attempt(exported: Exported) -> dict[str, Any]:
    """A sign-in attempt for an address with no account."""
    method = exported.details["method"]
    return {**_factors(method if method != "sso" else None), "is_mfa": False}


def _session(exported: Exported) -> dict[str, Any]:
    session_id = exported.details.get("session_id")
    return {"session": {"uid": session_id}} if session_id else {}


def _verification(exported: Exported) -> dict[str, Any]:
    """A second factor's code checked outside sign-in (step-up, or while enrolling)."""
    factor = {
        Account.TotpCodeAccepted: "totp",
        Account.SmsCodeAccepted: "sms",
        Account.RecoveryCodeUsed: "recovery_code",
    }.get(type(exported.event)) or exported.details["factor"]
    return {**_factors(factor), "is_mfa": True}


def _factor(name: str) -> Attributes:
    return lambda exported: _factors(name)


def _phone(exported: Exported) -> dict[str, Any]:
    phone = exported.details.get("phone")
    return {"auth_factors": [{**FACTORS["sms"], **({"phone_number": phone} if phone else {})}]}


def _api_key(exported: Exported) -> dict[str, Any]:
    credential = {"uid": exported.details["key_id"], "type": "API key"}
    return {"user_result": {**_user(exported.user), "programmatic_credentials": [credential]}}


def _role(exported: Exported) -> dict[str, Any]:
    """A role in a workspace (a revocation names only the workspace)."""
    details = exported.details
    role = {"name": details["role"]} if "role" in details else {}
    return {"policy": {**role, "group": {"name": details["workspace"]}}}


def _org_admin(exported: Exported) -> dict[str, Any]:
    return {"policy": {"name": "admin", "group": {"name": exported.record["org"]}}}


ACTIVITIES: dict[type[LedgerEvent], Activity] = {
    # Authentication: signing in and out, and second factors checked outside sign-in.
    Account.LoginSucceeded: Activity(AUTHENTICATION, (1, "Logon"), _sign_in),
    Account.LoginFailed: Activity(AUTHENTICATION, (1, "Logon"), _sign_in, failed=True),
    UnknownAccountAttempts.Created: Activity(AUTHENTICATION, (1, "Logon"), _attempt, failed=True),
    UnknownAccountAttempts.Attempted: Activity(AUTHENTICATION, (1, "Logon"), _attempt, failed=True),
    Session.SignedOut: Activity(AUTHENTICATION, (2, "Logoff"), _session),
    Account.SessionRevoked: Activity(AUTHENTICATION, (2, "Logoff"), _session),
    Account.SessionsRevoked: Activity(AUTHENTICATION, (2, "Logoff")),
    Account.OtherSessionsSignedOut: Activity(AUTHENTICATION, (2, "Logoff")),
    Account.TotpCodeAccepted: Activity(AUTHENTICATION, (OTHER, "Verify Factor"), _verification),
    Account.SmsCodeAccepted: Activity(AUTHENTICATION, (OTHER, "Verify Factor"), _verification),
    Account.RecoveryCodeUsed: Activity(AUTHENTICATION, (OTHER, "Verify Factor"), _verification),
    Account.VerificationFailed: Activity(
        AUTHENTICATION, (OTHER, "Verify Factor"), _verification, failed=True
    ),
    Session.StepUpRefused: Activity(AUTHENTICATION, (OTHER, "Step-Up"), _session, failed=True),
    # Account Change.
    Account.Created: Activity(ACCOUNT_CHANGE, (1, "Create")),
    Account.PasswordChanged: Activity(ACCOUNT_CHANGE, (3, "Password Change")),
    Account.TotpEnrolmentConfirmed: Activity(
        ACCOUNT_CHANGE, (10, "MFA Factor Enable"), _factor("totp")
    ),
    Account.SmsEnrolmentConfirmed: Activity(ACCOUNT_CHANGE, (10, "MFA Factor Enable"), _phone),
    Account.TotpDisabled: Activity(ACCOUNT_CHANGE, (11, "MFA Factor Disable"), _factor("totp")),
    Account.SmsDisabled: Activity(ACCOUNT_CHANGE, (11, "MFA Factor Disable"), _factor("sms")),
    Account.RecoveryCodesGenerated: Activity(
        ACCOUNT_CHANGE, (OTHER, "Recovery Codes Generate"), _factor("recovery_code")
    ),
    Account.ApiKeyCreated: Activity(ACCOUNT_CHANGE, (OTHER, "API Key Create"), _api_key),
    Account.ApiKeyReauthorised: Activity(ACCOUNT_CHANGE, (OTHER, "API Key Reauthorise"), _api_key),
    Account.ApiKeyRevoked: Activity(ACCOUNT_CHANGE, (OTHER, "API Key Revoke"), _api_key),
    Account.WorkspaceMembershipGranted: Activity(ACCOUNT_CHANGE, (7, "Attach Policy"), _role),
    Account.WorkspaceMembershipRevoked: Activity(ACCOUNT_CHANGE, (8, "Detach Policy"), _role),
    Organisation.AdminAdded: Activity(ACCOUNT_CHANGE, (7, "Attach Policy"), _org_admin),
    Account.AlertSettingsChanged: Activity(ACCOUNT_CHANGE, (OTHER, "Security Alerts Change")),
    Account.SsoDisconnected: Activity(ACCOUNT_CHANGE, (OTHER, "SSO Disconnect")),
    Account.Erased: Activity(ACCOUNT_CHANGE, (6, "Delete")),
    Account.MfaEnrolmentOverdue: Activity(ACCOUNT_CHANGE, (OTHER, "MFA Enrolment Overdue")),
}
