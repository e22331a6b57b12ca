"""Read model: the last 90 days of sign-in attempts per account (`history`).

Older entries leave the read model as new ones arrive; they never leave the ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, stored_instant
from ledger.database import Transaction
from projections.client import client_of
from projections.framework import Handler, Projection

RETENTION = timedelta(days=90)


class LoginHistoryProjection(Projection):
    name = "login_history"
    tables = ("rm_login_history",)

    def handlers(self) -> dict[type[Any], Handler]:
        return {Account.LoginSucceeded: self.attempted, Account.LoginFailed: self.attempted}

    def attempted(
        self, event: Account.LoginSucceeded | Account.LoginFailed, position: int, tx: Transaction
    ) -> None:
        client = client_of(self, event.client)
        reason = event.reason if isinstance(event, Account.LoginFailed) else None
        account_id = str(event.originator_id)
        tx.execute(
            "DELETE FROM rm_login_history WHERE account_id = ? AND occurred_at < ?",
            (account_id, stored_instant(event.timestamp - RETENTION)),
        )
        tx.execute(
            "INSERT INTO rm_login_history (position, account_id, occurred_at, method, ip, "
            "location, outcome, reason, factor, idp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                position,
                account_id,
                stored_instant(event.timestamp),
                event.method,
                client["ip"],
                client["location"],
                "failed" if reason else "success",
                reason,
                event.factor,
                event.idp,
            ),
        )


def login_history(
    tx: Transaction, account_id: UUID, now: datetime, days: int
) -> list[dict[str, Any]]:
    """Attempts in the last `days` days (at most 90), newest first, from the index."""
    rows = tx.fetchall(
        "SELECT occurred_at, method, ip, location, outcome, reason, factor, idp "
        "FROM rm_login_history WHERE account_id = ? AND occurred_at >= ? AND occurred_at <= ? "
        "ORDER BY occurred_at DESC, position DESC",
        (str(account_id), stored_instant(now - timedelta(days=days)), stored_instant(now)),
    )
    return [
        {
            "timestamp": display_instant(occurred_at),
            "method": method,
            "ip": ip,
            "location": location,
            "outcome": outcome,
            "reason": reason,
            "factor": factor,
            "idp": idp,
        }
        for occurred_at, method, ip, location, outcome, reason, factor, idp in rows
    ]
