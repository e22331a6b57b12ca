"""Read model: the API keys overview (`api-keys list`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, stored_instant
from ledger.database import Transaction
from projections.framework import Handler, Projection


class ApiKeysProjection(Projection):
    name = "api_keys"
    tables = ("rm_api_keys",)
    # Through a bulk rebuild, each key's last use, written once at the end instead of an UPDATE
    # per sign-in: nothing else the rebuild does reads it.
    _last_used: dict[tuple[str, str], str] | None = None

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Account.ApiKeyCreated: self.created,
            Account.ApiKeyRevoked: self.revoked,
            Account.LoginSucceeded: self.used,
            Account.Erased: self.erased,
        }

    def rebuilding(self, tx: Transaction) -> None:
        self._last_used = {} if tx.bulk else None

    def rebuilt(self, tx: Transaction) -> None:
        if self._last_used is not None:
            with tx.pipelined():
                for (account_id, key_id), at in self._last_used.items():
                    self._set_last_used(tx, account_id, key_id, at)
            self._last_used = None

    def created(self, event: Account.ApiKeyCreated, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_api_keys (account_id, key_id, name, created_at, last_used, revoked) "
            "VALUES (?, ?, ?, ?, NULL, FALSE)",
            (str(event.originator_id), event.key_id, event.name, stored_instant(event.timestamp)),
        )

    def revoked(self, event: Account.ApiKeyRevoked, _: int, tx: Transaction) -> None:
        tx.execute(
            "UPDATE rm_api_keys SET revoked = TRUE WHERE account_id = ? AND key_id = ?",
            (str(event.originator_id), event.key_id),
        )

    def used(self, event: Account.LoginSucceeded, _: int, tx: Transaction) -> None:
        if event.api_key_id is None:
            return
        account_id, at = str(event.originator_id), stored_instant(event.timestamp)
        if tx.bulk and self._last_used is not None:
            self._last_used[account_id, event.api_key_id] = at
        else:
            self._set_last_used(tx, account_id, event.api_key_id, at)

    @staticmethod
    def _set_last_used(tx: Transaction, account_id: str, key_id: str, at: str) -> None:
        tx.execute(
            "UPDATE rm_api_keys SET last_used = ? WHERE account_id = ? AND key_id = ?",
            (at, account_id, key_id),
        )

    def erased(self, event: Account.Erased, _: int, tx: Transaction) -> None:
        """An erased account's keys open nothing any more; they leave the list with it."""
        tx.execute("DELETE FROM rm_api_keys WHERE account_id = ?", (str(event.originator_id),))


def api_keys(tx: Transaction, account_id: UUID) -> list[dict[str, Any]]:
    rows = tx.fetchall(
        "SELECT key_id, name, created_at, last_used, revoked FROM rm_api_keys "
        "WHERE account_id = ? ORDER BY created_at DESC, key_id",
        (str(account_id),),
    )
    return [
        {
            "key_id": key_id,
            "name": name,
            "created": display_instant(created),
            "last_used": last_used and display_instant(last_used),
            "revoked": bool(revoked),
        }
        for key_id, name, created, last_used, revoked in rows
    ]
