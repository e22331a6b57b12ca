"""Read model: active sessions per account (`sessions list`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, stored_instant
from ledger.database import Transaction
from ledger.sign_in import SESSION_IDLE_LIMIT
from projections.client import client_of
from projections.framework import Handler, Projection


class SessionsProjection(Projection):
    name = "sessions"
    tables = ("rm_sessions",)

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Account.LoginSucceeded: self.opened,
            Account.SessionActivityRecorded: self.active,
            Account.SessionRevoked: self.revoked,
            Account.SessionsRevoked: self.many_revoked,
        }

    def opened(self, event: Account.LoginSucceeded, _: int, tx: Transaction) -> None:
        client = client_of(self, event.client)
        at = stored_instant(event.timestamp)
        tx.execute(
            "INSERT INTO rm_sessions (account_id, session_id, browser, os, device, ip, location, "
            "created_at, last_activity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(event.originator_id),
                event.session_id,
                client["browser"],
                client["os"],
                client["device"],
                client["ip"],
                client["location"],
                at,
                at,
            ),
        )

    def active(self, event: Account.SessionActivityRecorded, _: int, tx: Transaction) -> None:
        tx.execute(
            "UPDATE rm_sessions SET last_activity = ? WHERE account_id = ? AND session_id = ?",
            (stored_instant(event.timestamp), str(event.originator_id), event.session_id),
        )

    def revoked(self, event: Account.SessionRevoked, _: int, tx: Transaction) -> None:
        self._end(tx, event.originator_id, [event.session_id])

    def many_revoked(self, event: Account.SessionsRevoked, _: int, tx: Transaction) -> None:
        self._end(tx, event.originator_id, event.session_ids)

    @staticmethod
    def _end(tx: Transaction, account_id: UUID, session_ids: list[str]) -> None:
        for session_id in session_ids:
            tx.execute(
                "DELETE FROM rm_sessions WHERE account_id = ? AND session_id = ?",
                (str(account_id), session_id),
            )


def active_sessions(tx: Transaction, account_id: UUID, now: datetime) -> list[dict[str, Any]]:
    """Sessions not signed out and not idle past the limit, most recent activity first."""
    rows = tx.fetchall(
        "SELECT session_id, browser, os, device, ip, location, last_activity, created_at "
        "FROM rm_sessions WHERE account_id = ? AND last_activity >= ? "
        "ORDER BY last_activity DESC, created_at DESC",
        (str(account_id), stored_instant(now - SESSION_IDLE_LIMIT)),
    )
    return [
        {
            "session_id": session_id,
            "browser": browser,
            "os": os,
            "device": device,
            "ip": ip,
            "location": location,
            "last_activity": display_instant(last_activity),
            "created": display_instant(created),
        }
        for session_id, browser, os, device, ip, location, last_activity, created in rows
    ]
