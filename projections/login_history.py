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
HISTORY_COLUMNS = (
    "position",
    "account_id",
    "occurred_at",
    "method",
    "ip",
    "location",
    "outcome",
    "reason",
    "factor",
    "idp",
)
# What each attempt's DELETE would have left (PostgreSQL): a row goes if a later attempt on its
# account happened more than RETENTION after it. Stored instants are fixed-width UTC text. The
# window runs backwards from the newest attempt, so that its maximum grows row by row (framed
# as "every later row" instead, PostgreSQL recomputes it per row: quadratic in an account's
# attempts, half of a 100,000-event rebuild).
DROP_EXPIRED = """
DELETE FROM rm_login_history h USING (
    SELECT position, MAX(occurred_at) OVER (
        PARTITION BY account_id ORDER BY position DESC
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS latest_after
    FROM rm_login_history
) later
WHERE h.position = later.position AND h.occurred_at < to_char(
    rtrim(later.latest_after, 'Z')::timestamp - make_interval(days => ?),
    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
)
"""


class LoginHistoryProjection(Projection):
    name = "login_history"
    tables = ("rm_login_history",)
    copied = tables

    def handlers(self) -> dict[type[Any], Handler]:
        return {Account.LoginSucceeded: self.attempted, Account.LoginFailed: self.attempted}

    def rebuilt(self, tx: Transaction) -> None:
        if tx.bulk:
            tx.execute(DROP_EXPIRED, (RETENTION.days,))

    def attempted(
        self, event: Account.LoginSucceeded | Account.LoginFailed, position: int, tx: Transaction
    ) -> None:
        client = client_of(self, event.client)
        reason = event.reason if isinstance(event, Account.LoginFailed) else None
        account_id = str(event.originator_id)
        if not tx.bulk:  # a bulk rebuild drops them all at once (`rebuilt`)
            tx.execute(
                "DELETE FROM rm_login_history WHERE account_id = ? AND occurred_at < ?",
                (account_id, stored_instant(event.timestamp - RETENTION)),
            )
        tx.insert(
            "rm_login_history",
            HISTORY_COLUMNS,
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
