"""Read model: the per-user audit log of security-relevant changes (`audit`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, format_instant, stored_instant
from ledger.database import Transaction
from ledger.organisation import Organisation
from ledger.session import Session
from projections.framework import Handler, Projection
from projections.phone import mask_phone

Details = Callable[[Any], tuple[str, dict[str, Any]]]
AUDIT_COLUMNS = ("position", "account_id", "occurred_at", "action", "actor_id", "ip", "details")


class AuditLogProjection(Projection):
    name = "audit_log"
    tables = ("rm_audit_log", "rm_sso_enforced")
    copied = tables

    def handlers(self) -> dict[type[Any], Handler]:
        describe: dict[type[Any], Details] = {
            Account.Created: lambda e: ("account_created", {}),
            Account.PasswordChanged: lambda e: ("password_changed", {}),
            Account.TotpEnrolmentConfirmed: lambda e: ("mfa_enabled", {"factor": "totp"}),
            Account.SmsEnrolmentConfirmed: lambda e: (
                "mfa_enabled",
                {"factor": "sms", "phone": mask_phone(self.unseal(e.phone))},
            ),
            Account.TotpDisabled: lambda e: ("mfa_disabled", {"factor": "totp"}),
            Account.SmsDisabled: lambda e: ("mfa_disabled", {"factor": "sms"}),
            Account.RecoveryCodesGenerated: lambda e: (
                "recovery_codes_regenerated" if e.regenerated else "recovery_codes_generated",
                {"count": len(e.hashes)},
            ),
            Account.WorkspaceMembershipGranted: lambda e: (
                "workspace_membership_changed",
                {"workspace": e.workspace, "role": e.role, "change": "granted"},
            ),
            Account.WorkspaceMembershipRevoked: lambda e: (
                "workspace_membership_changed",
                {"workspace": e.workspace, "change": "revoked"},
            ),
            Account.AlertSettingsChanged: lambda e: (
                "alert_settings_changed",
                {"security": "on" if e.security else "off"},
            ),
            Account.RecoveryCodeUsed: lambda e: ("recovery_code_used", {}),
            Account.SessionRevoked: lambda e: ("session_revoked", {"session": e.session_id}),
            Account.SessionsRevoked: lambda e: (
                "sessions_revoked",
                {"sessions": e.session_ids, "count": len(e.session_ids), "kept": e.kept},
            ),
            # How many sessions these two ended is the sessions read model's count.
            Account.OtherSessionsSignedOut: lambda e: ("sessions_revoked", {"kept": e.kept}),
            Session.SignedOut: lambda e: ("session_revoked", {"session": e.session_id}),
            Session.StepUpRefused: lambda e: (
                "reauthentication_required",
                {"action": e.action, "session": e.session_id},
            ),
            Account.ApiKeyCreated: lambda e: (
                "api_key_created",
                {"key_id": e.key_id, "name": e.name},
            ),
            Account.ApiKeyRevoked: lambda e: ("api_key_revoked", {"key_id": e.key_id}),
            Account.ApiKeyReauthorised: lambda e: ("api_key_reauthorised", {"key_id": e.key_id}),
            Account.SsoDisconnected: lambda e: ("sso_disconnected", {}),
            Account.Erased: lambda e: ("account_erased", {}),
            Account.MfaEnrolmentOverdue: lambda e: (
                "mfa_enrolment_overdue",
                {"deadline": format_instant(e.deadline)},
            ),
            Account.VerificationFailed: lambda e: (
                "mfa_verification_failed",
                {"factor": e.factor, "reason": e.reason},
            ),
            # Someone asked for a sign-in code to be texted, and none was (no phone, or
            # throttled): worth seeing, since it takes nothing but the address.
            Account.SmsLoginCodeRefused: lambda e: ("sms_code_refused", {"reason": e.reason}),
        }
        handlers = {cls: self._writer(details) for cls, details in describe.items()}
        return handlers | {Organisation.SsoConfigured: self.sso_configured}

    def sso_configured(
        self, event: Organisation.SsoConfigured, position: int, tx: Transaction
    ) -> None:
        """Every member's log shows SSO enforced (read with theirs: see audit_entries)."""
        if event.enforced:
            tx.insert(
                "rm_sso_enforced",
                ("position", "org_id", "occurred_at", "actor_id", "ip"),
                (
                    position,
                    str(event.originator_id),
                    stored_instant(event.timestamp),
                    str(event.actor_id) if event.actor_id else None,
                    self.unseal(event.ip),
                ),
            )

    def _writer(self, details: Details) -> Handler:
        def write(event: Any, position: int, tx: Transaction) -> None:
            action, detail = details(event)
            tx.insert(
                "rm_audit_log",
                AUDIT_COLUMNS,
                (
                    position,
                    str(
                        event.account_id
                        if isinstance(event, Session.Event)
                        else event.originator_id
                    ),
                    stored_instant(event.timestamp),
                    action,
                    str(event.actor_id) if event.actor_id else None,
                    self.unseal(event.ip),
                    json.dumps(detail, sort_keys=True),
                ),
            )

        return write


def audit_entries(
    tx: Transaction, account_id: UUID, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """The account's audit log, newest first, within [since, until): its own entries, and its
    organisation's enforcing SSO since she joined."""
    within, bounds = _within(since, until)
    # The conditions are ours; every value is a parameter.
    own = (
        "SELECT l.position, l.occurred_at, l.action, COALESCE(a.email, l.actor_id), l.ip, "  # noqa: S608
        "l.details, e.sessions FROM rm_audit_log l "
        "LEFT JOIN rm_accounts a ON a.account_id = l.actor_id "
        "LEFT JOIN rm_session_endings e ON e.position = l.position "
        f"WHERE l.account_id = ?{within.format(t='l')}"
    )
    enforced = (
        "SELECT s.position, s.occurred_at, 'sso_enforced', COALESCE(a.email, s.actor_id), s.ip, "  # noqa: S608
        "NULL, NULL FROM rm_sso_enforced s JOIN rm_accounts m ON m.org_id = s.org_id "
        "LEFT JOIN rm_accounts a ON a.account_id = s.actor_id "
        "WHERE m.account_id = ? AND s.position > "
        f"(SELECT MIN(position) FROM rm_audit_log WHERE account_id = ?){within.format(t='s')}"
    )
    params = [str(account_id), *bounds, str(account_id), str(account_id), *bounds]
    rows = tx.fetchall(f"{own} UNION ALL {enforced} ORDER BY 2 DESC, 1 DESC", params)
    return [
        {
            "timestamp": display_instant(occurred_at),
            "action": action,
            "actor": actor,
            "ip": ip,
            "details": (json.loads(details) if details else SSO_ENFORCED)
            | _sessions_ended(action, ended),
        }
        for _, occurred_at, action, actor, ip, details, ended in rows
    ]


SSO_ENFORCED = {
    "sessions": "every session not opened with SSO ended",
    "api_keys": "each waits to be authorised again from a session opened with SSO",
}


def _within(since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """A time condition on table `{t}` and its parameters."""
    condition, bounds = "", []
    if since is not None:
        condition += " AND {t}.occurred_at >= ?"
        bounds.append(stored_instant(since))
    if until is not None:
        condition += " AND {t}.occurred_at < ?"
        bounds.append(stored_instant(until))
    return condition, bounds


def _sessions_ended(action: str, ended: str | None) -> dict[str, Any]:
    """The sessions a sign-out of the others, or a key revoked, ended (a read model's count)."""
    sessions = json.loads(ended) if ended is not None else None
    if action == "sessions_revoked" and sessions is not None:
        return {"sessions": sessions, "count": len(sessions)}
    if sessions:  # a revoked key's sessions, when it had any
        return {"sessions_ended": len(sessions), "sessions": sessions}
    return {}
