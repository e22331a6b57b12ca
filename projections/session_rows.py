"""The rows of `rm_active_sessions`, as the sessions read model changes them: in the table, or
held in memory through a bulk rebuild and written once with COPY at its end.

A rebuild would otherwise send a DELETE (the account's rows that idled out) and an INSERT per
sign-in, half of its time. Held rows are as many as the table ends with, plus those that idled
out since their account last opened a session: what the table would hold at that moment too.
Both kinds answer every change the same way; the projection's tests compare a rebuild with a
catch-up on both stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, fields
from typing import Any

from ledger.database import Transaction

# Which of an account's sessions an account decision ends: SQL, and the same test on a row.
Ending = tuple[str, tuple[Any, ...], Callable[["SessionRow"], bool]]


@dataclass(slots=True)
class SessionRow:
    account_id: str
    session_id: str
    opened_by: str  # password | sso | api_key
    key_id: str | None
    ends_with_key: bool
    browser: str | None
    os: str | None
    device: str | None
    ip: str | None
    location: str | None
    opened_position: int
    created_at: str
    last_activity: str
    idle_seconds: int
    expires_at: str  # stored instants: fixed-width UTC text, compared as text


COLUMNS = tuple(field.name for field in fields(SessionRow))


class StoredSessions:
    """The rows in the table (every catch-up, and a rebuild on SQLite)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    def open(self, row: SessionRow) -> None:
        """A new session; the account's rows that idled out before it are gone for good."""
        self.tx.execute(
            "DELETE FROM rm_active_sessions WHERE account_id = ? AND expires_at < ?",
            (row.account_id, row.created_at),
        )
        marks = ", ".join("?" * len(COLUMNS))
        self.tx.execute(
            f"INSERT INTO rm_active_sessions ({', '.join(COLUMNS)}) VALUES ({marks})",  # noqa: S608
            astuple(row),
        )

    def touch(
        self, account_id: str, session_id: str, at: str, expires: Callable[[int], str]
    ) -> None:
        """Activity at `at`: the session (if still held) expires `expires(idle_seconds)`."""
        row = self.tx.fetchone(
            "SELECT idle_seconds FROM rm_active_sessions WHERE account_id = ? AND session_id = ?",
            (account_id, session_id),
        )
        if row is not None:
            self.tx.execute(
                "UPDATE rm_active_sessions SET last_activity = ?, expires_at = ? "
                "WHERE account_id = ? AND session_id = ?",
                (at, expires(int(row[0])), account_id, session_id),
            )

    def delete(self, account_id: str, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            self.tx.execute(
                "DELETE FROM rm_active_sessions WHERE account_id = ? AND session_id = ?",
                (account_id, session_id),
            )

    def end(self, account_id: str, ending: Ending, at: str) -> list[str]:
        """Delete the account's sessions `ending` selects; those still active at `at`, sorted."""
        which, params, _ = ending
        ended = self.tx.fetchall(
            f"SELECT session_id FROM rm_active_sessions WHERE account_id = ? AND {which} "  # noqa: S608
            "AND expires_at >= ? ORDER BY session_id",
            (account_id, *params, at),
        )
        self.tx.execute(
            f"DELETE FROM rm_active_sessions WHERE account_id = ? AND {which}",  # noqa: S608
            (account_id, *params),
        )
        return [str(row[0]) for row in ended]

    def erase(self, account_id: str) -> None:
        self.tx.execute("DELETE FROM rm_active_sessions WHERE account_id = ?", (account_id,))

    def end_all_but_sso(self, accounts: list[str]) -> None:
        for account_id in accounts:
            self.tx.execute(
                "DELETE FROM rm_active_sessions WHERE account_id = ? AND opened_by <> 'sso'",
                (account_id,),
            )


class HeldSessions:
    """The rows in memory, by account then session, for a bulk rebuild on PostgreSQL."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, SessionRow]] = {}

    def open(self, row: SessionRow) -> None:
        held = self.rows.setdefault(row.account_id, {})
        for session_id in [s for s, old in held.items() if old.expires_at < row.created_at]:
            del held[session_id]
        if row.session_id in held:
            raise ValueError(f"session {row.session_id} of {row.account_id} opened twice")
        held[row.session_id] = row

    def touch(
        self, account_id: str, session_id: str, at: str, expires: Callable[[int], str]
    ) -> None:
        row = self.rows.get(account_id, {}).get(session_id)
        if row is not None:
            row.last_activity, row.expires_at = at, expires(row.idle_seconds)

    def delete(self, account_id: str, session_ids: Iterable[str]) -> None:
        held = self.rows.get(account_id, {})
        for session_id in session_ids:
            held.pop(session_id, None)

    def end(self, account_id: str, ending: Ending, at: str) -> list[str]:
        _, _, selects = ending
        held = self.rows.get(account_id, {})
        chosen = [row for row in held.values() if selects(row)]
        for row in chosen:
            del held[row.session_id]
        return sorted(row.session_id for row in chosen if row.expires_at >= at)

    def erase(self, account_id: str) -> None:
        self.rows.pop(account_id, None)

    def end_all_but_sso(self, accounts: list[str]) -> None:
        for account_id in accounts:
            held = self.rows.get(account_id, {})
            for session_id in [s for s, row in held.items() if row.opened_by != "sso"]:
                del held[session_id]

    def write(self, tx: Transaction) -> None:
        """Every held row into the table, by COPY."""
        tx.copy(
            "rm_active_sessions",
            COLUMNS,
            [astuple(row) for held in self.rows.values() for row in held.values()],
        )
