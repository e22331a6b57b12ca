"""Read model: the per-user audit log of security-relevant changes (`audit`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, stored_instant
from ledger.database import Transaction
from ledger.session import Session
from projections.framework import Handler, Projection
from projections.phone import mask_phone

Details = Callable[[Any], tuple[str, dict[str, Any]]]


class AuditLogProjection(Projection):
    name = "audit_log"
    tables = ("rm_audit_log",)

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
            Account.SsoDisconnected: lambda e: ("sso_disconnected", {}),
            Account.Erased: lambda e: ("account_erased", {}),
            Account.VerificationFailed: lambda e: (
                "mfa_verification_failed",
                {"factor": e.factor, "reason": e.reason},
            ),
        }
        return {cls: self._writer(details) for cls, details in describe.items()}

    def _writer(self, details: Details) -> Handler:
        def write(event: Any, position: int, tx: Transaction) -> None:
            action, detail = details(event)
            tx.execute(
                "INSERT INTO rm_audit_log "
                "(position, account_id, occurred_at, action, actor_id, ip, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
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
    """The account's audit log, newest first, within [since, until)."""
    sql = (
        "SELECT l.occurred_at, l.action, COALESCE(a.email, l.actor_id), l.ip, l.details, "
        "e.sessions FROM rm_audit_log l LEFT JOIN rm_accounts a ON a.account_id = l.actor_id "
        "LEFT JOIN rm_session_endings e ON e.position = l.position "
        "WHERE l.account_id = ?"
    )
    params: list[Any] = [str(account_id)]
    if since is not None:
        sql += " AND l.occurred_at >= ?"
        params.append(stored_instant(since))
    if until is not None:
        sql += " AND l.occurred_at < ?"
        params.append(stored_instant(until))
    rows = tx.fetchall(sql + " ORDER BY l.occurred_at DESC, l.position DESC", params)
    return [
        {
            "timestamp": display_instant(occurred_at),
            "action": action,
            "actor": actor,
            "ip": ip,
            "details": json.loads(details) | _sessions_ended(action, ended),
        }
        for occurred_at, action, actor, ip, details, ended in rows
    ]


def _sessions_ended(action: str, ended: str | None) -> dict[str, Any]:
    """The sessions a sign-out of the others, or a key revoked, ended (a read model's count)."""
    sessions = json.loads(ended) if ended is not None else None
    if action == "sessions_revoked" and sessions is not None:
        return {"sessions": sessions, "count": len(sessions)}
    if sessions:  # a revoked key's sessions, when it had any
        return {"sessions_ended": len(sessions), "sessions": sessions}
    return {}
