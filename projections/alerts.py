"""Read model: security alerts. A failed sign-in raises one when the account's Security alert
category is on, at most one per account per 15 minutes for a burst of failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, format_instant, parse_stored_instant, stored_instant
from ledger.database import Transaction
from projections.client import client_of
from projections.framework import Handler, Projection

QUIET_PERIOD = timedelta(minutes=15)
REASONS = {
    "invalid_password": "wrong password",
    "invalid_mfa_code": "wrong second-factor code",
    "mfa_code_reused": "a second-factor code used before",
    "invalid_recovery_code": "wrong recovery code",
    "sms_code_expired": "an expired SMS code",
    "locked_out": "attempt while locked out",
    "invalid_api_key": "invalid API key",
}


class AlertsProjection(Projection):
    name = "alerts"
    tables = ("rm_alerts", "rm_alert_settings")

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Account.Created: self.created,
            Account.AlertSettingsChanged: self.settings_changed,
            Account.LoginFailed: self.failed_login,
        }

    def created(self, event: Account.Created, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_alert_settings (account_id, security, last_alert_at) "
            "VALUES (?, TRUE, NULL)",
            (str(event.originator_id),),
        )

    def settings_changed(
        self, event: Account.AlertSettingsChanged, _: int, tx: Transaction
    ) -> None:
        tx.execute(
            "UPDATE rm_alert_settings SET security = ? WHERE account_id = ?",
            (event.security, str(event.originator_id)),
        )

    def failed_login(self, event: Account.LoginFailed, position: int, tx: Transaction) -> None:
        account_id = str(event.originator_id)
        row = tx.fetchone(
            "SELECT security, last_alert_at FROM rm_alert_settings WHERE account_id = ?",
            (account_id,),
        )
        if row is None or not row[0]:
            return
        at = stored_instant(event.timestamp)
        if row[1] is not None and event.timestamp < parse_stored_instant(row[1]) + QUIET_PERIOD:
            return
        tx.execute(
            "INSERT INTO rm_alerts (position, account_id, occurred_at, kind, message) "
            "VALUES (?, ?, ?, 'failed_login', ?)",
            (position, account_id, at, self._message(event)),
        )
        tx.execute(
            "UPDATE rm_alert_settings SET last_alert_at = ? WHERE account_id = ?",
            (at, account_id),
        )

    def _message(self, event: Account.LoginFailed) -> str:
        client = client_of(self, event.client)
        where = client["ip"] or "an unknown address"
        if client["location"]:
            where += f" ({client['location']})"
        known = [p for p in (client["browser"], client["os"]) if p and p != "Unknown"]
        using = " using " + " on ".join(known) if known else ""
        reason = REASONS.get(event.reason, event.reason.replace("_", " "))
        return (
            f"Failed sign-in to your account at {format_instant(event.timestamp)} "
            f"from {where}{using}: {reason}."
        )


def security_alerts(tx: Transaction, account_id: UUID) -> list[dict[str, Any]]:
    rows = tx.fetchall(
        "SELECT occurred_at, kind, message FROM rm_alerts WHERE account_id = ? "
        "ORDER BY occurred_at DESC, position DESC",
        (str(account_id),),
    )
    return [
        {"timestamp": display_instant(at), "category": "security", "kind": kind, "message": message}
        for at, kind, message in rows
    ]
