"""Read model: the sessions of each account that may still be active (`sessions list`).

A row per session from its opening until it ends: signed out, ended by its account (every
other session signed out, its API key revoked, the account erased) or idle past its limit
(rows are pruned when the account next opens a session, so an account's rows stay as few as
its live sessions). Which sessions an account decision ended is kept beside it for the audit
log ("3 sessions ended").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import display_instant, parse_instant, stored_instant
from ledger.database import Transaction
from ledger.organisation import Organisation
from ledger.session import IDLE_LIMIT, Session
from projections.client import client_of
from projections.framework import Handler, Projection
from projections.session_rows import Ending, HeldSessions, SessionRow, StoredSessions

DEFAULT_PAGE = 50


class SessionsProjection(Projection):
    name = "active_sessions"
    tables = (
        "rm_active_sessions",
        "rm_session_endings",
        "rm_sso_enforcement",
        "rm_sso_disconnected",
    )
    _held: HeldSessions | None = None  # the rows, through a bulk rebuild

    def handlers(self) -> dict[type[Any], Handler]:
        return {
            Session.Opened: self.opened,
            Session.ActivityRecorded: self.active,
            Session.SignedOut: self.signed_out,
            Account.OtherSessionsSignedOut: self.others_signed_out,
            Account.ApiKeyRevoked: self.key_revoked,
            Account.Erased: self.erased,
            Account.SsoDisconnected: self.sso_disconnected,
            Organisation.SsoConfigured: self.sso_configured,
            # Sessions opened before sessions had streams, recorded in the account's stream.
            Account.LoginSucceeded: self.opened_in_account,
            Account.SessionActivityRecorded: self.active_in_account,
            Account.SessionRevoked: self.revoked_in_account,
            Account.SessionsRevoked: self.many_revoked_in_account,
        }

    def opened(self, event: Session.Opened, position: int, tx: Transaction) -> None:
        limit = timedelta(seconds=event.idle_limit)
        self._insert(tx, event, position, event.account_id, event.opened_by, event.key_id, limit)

    def opened_in_account(
        self, event: Account.LoginSucceeded, position: int, tx: Transaction
    ) -> None:
        if event.token_hash is None:
            return  # the session has a stream of its own: Session.Opened
        account, method, key = event.originator_id, event.method, event.api_key_id
        self._insert(tx, event, position, account, method, key, IDLE_LIMIT)

    def rebuilding(self, tx: Transaction) -> None:
        self._held = HeldSessions() if tx.bulk else None

    def rebuilt(self, tx: Transaction) -> None:
        if self._held is not None:
            self._held.write(tx)
            self._held = None

    def _rows(self, tx: Transaction) -> StoredSessions | HeldSessions:
        """Held in memory through a bulk rebuild (session_rows.py), else the table's."""
        return self._held if tx.bulk and self._held is not None else StoredSessions(tx)

    def active(self, event: Session.ActivityRecorded, _: int, tx: Transaction) -> None:
        self._touch(tx, event.account_id, event.session_id, event.timestamp)

    def active_in_account(
        self, event: Account.SessionActivityRecorded, _: int, tx: Transaction
    ) -> None:
        self._touch(tx, event.originator_id, event.session_id, event.timestamp)

    def signed_out(self, event: Session.SignedOut, _: int, tx: Transaction) -> None:
        self._rows(tx).delete(str(event.account_id), [event.session_id])

    def revoked_in_account(self, event: Account.SessionRevoked, _: int, tx: Transaction) -> None:
        self._rows(tx).delete(str(event.originator_id), [event.session_id])

    def many_revoked_in_account(
        self, event: Account.SessionsRevoked, _: int, tx: Transaction
    ) -> None:
        self._rows(tx).delete(str(event.originator_id), event.session_ids)

    def others_signed_out(
        self, event: Account.OtherSessionsSignedOut, position: int, tx: Transaction
    ) -> None:
        kept = event.kept or ""
        ending: Ending = (
            "opened_position < ? AND session_id <> ?",
            (position, kept),
            lambda row: row.opened_position < position and row.session_id != kept,
        )
        self._end(tx, event, position, ending)

    def key_revoked(self, event: Account.ApiKeyRevoked, position: int, tx: Transaction) -> None:
        key = event.key_id
        ending: Ending = (
            "key_id = ? AND ends_with_key",
            (key,),
            lambda row: row.key_id == key and row.ends_with_key,
        )
        self._end(tx, event, position, ending)

    def sso_configured(self, event: Organisation.SsoConfigured, _: int, tx: Transaction) -> None:
        """Enforcement beginning ends the members' sessions not opened by SSO (but those of
        members an admin disconnected from SSO), as `ledger.session.Standing` does."""
        org = str(event.originator_id)
        row = tx.fetchone("SELECT enforced FROM rm_sso_enforcement WHERE org_id = ?", (org,))
        began = event.enforced and not (row and row[0])
        tx.execute("DELETE FROM rm_sso_enforcement WHERE org_id = ?", (org,))
        tx.execute(
            "INSERT INTO rm_sso_enforcement (org_id, enforced) VALUES (?, ?)", (org, event.enforced)
        )
        if began:  # members who joined later have no session yet, even in a rebuild
            members = tx.fetchall(
                "SELECT account_id FROM rm_accounts WHERE org_id = ? AND account_id NOT IN "
                "(SELECT account_id FROM rm_sso_disconnected)",
                (org,),
            )
            self._rows(tx).end_all_but_sso([str(member[0]) for member in members])

    def sso_disconnected(self, event: Account.SsoDisconnected, _: int, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO rm_sso_disconnected (account_id) VALUES (?) "
            "ON CONFLICT (account_id) DO NOTHING",
            (str(event.originator_id),),
        )

    def erased(self, event: Account.Erased, _: int, tx: Transaction) -> None:
        self._rows(tx).erase(str(event.originator_id))

    # ---- changing rows --------------------------------------------------------------------

    def _insert(
        self,
        tx: Transaction,
        event: Session.Opened | Account.LoginSucceeded,
        position: int,
        account_id: UUID,
        opened_by: str,
        key_id: str | None,
        idle_limit: timedelta,
    ) -> None:
        at = stored_instant(event.timestamp)
        client = client_of(self, event.client)
        row = SessionRow(
            account_id=str(account_id),
            session_id=event.session_id,
            opened_by=opened_by,
            key_id=key_id,
            ends_with_key=isinstance(event, Session.Opened),  # only sessions with streams do
            browser=client["browser"],
            os=client["os"],
            device=client["device"],
            ip=client["ip"],
            location=client["location"],
            opened_position=position,
            created_at=at,
            last_activity=at,
            idle_seconds=int(idle_limit.total_seconds()),
            expires_at=stored_instant(event.timestamp + idle_limit),
        )
        self._rows(tx).open(row)

    def _touch(self, tx: Transaction, account_id: UUID, session_id: str, at: datetime) -> None:
        def expires(idle_seconds: int) -> str:
            return stored_instant(at + timedelta(seconds=idle_seconds))

        self._rows(tx).touch(str(account_id), session_id, stored_instant(at), expires)

    def _end(
        self,
        tx: Transaction,
        event: Account.OtherSessionsSignedOut | Account.ApiKeyRevoked,
        position: int,
        ending: Ending,
    ) -> None:
        """End the account's sessions `ending` selects; name those still active then."""
        account = str(event.originator_id)
        ended = self._rows(tx).end(account, ending, stored_instant(event.timestamp))
        tx.execute(
            "INSERT INTO rm_session_endings (position, account_id, sessions) VALUES (?, ?, ?)",
            (position, account, json.dumps(ended)),
        )


# ---- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPage:
    sessions: list[dict[str, Any]]
    next_cursor: str | None  # where the next page starts; None on the last page


class BadCursor(ValueError):
    pass


def active_sessions(
    tx: Transaction,
    account_id: UUID,
    now: datetime,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> SessionPage:
    """Sessions still active at `now`, most recent activity first, `limit` at a time."""
    sql = (
        "SELECT session_id, opened_by, key_id, browser, os, device, ip, location, "
        "last_activity, created_at FROM rm_active_sessions "
        "WHERE account_id = ? AND expires_at >= ?"
    )
    params: list[Any] = [str(account_id), stored_instant(now)]
    if cursor is not None:
        sql += " AND (last_activity, created_at, session_id) < (?, ?, ?)"
        params += read_cursor(cursor)
    sql += " ORDER BY last_activity DESC, created_at DESC, session_id DESC LIMIT ?"
    rows = tx.fetchall(sql, [*params, limit + 1])
    page = [
        {
            "session_id": session_id,
            "opened_by": opened_by,
            "key_id": key_id,
            "browser": browser,
            "os": os,
            "device": device,
            "ip": ip,
            "location": location,
            "last_activity": display_instant(last_activity),
            "created": display_instant(created),
            "cursor": _cursor(last_activity, created, session_id),  # the next page starts after
        }
        for (
            session_id,
            opened_by,
            key_id,
            browser,
            os,
            device,
            ip,
            location,
            last_activity,
            created,
        ) in rows[:limit]
    ]
    return SessionPage(page, page[-1]["cursor"] if len(rows) > limit else None)


def sessions_ended_by(tx: Transaction, position: int) -> list[str]:
    """The active sessions the account's decision at `position` ended."""
    row = tx.fetchone("SELECT sessions FROM rm_session_endings WHERE position = ?", (position,))
    return list(json.loads(row[0])) if row else []


def _cursor(last_activity: str, created: str, session_id: str) -> str:
    """`<last activity>-<created>-<session>`, instants as hex microseconds since 1970."""
    return "-".join([_micros(last_activity), _micros(created), session_id])


def read_cursor(cursor: str) -> list[str]:
    """The row a cursor names; BadCursor for anything `_cursor` did not make."""
    if not CURSOR.fullmatch(cursor):
        raise BadCursor("that cursor is not one `sessions list` gave")
    last_activity, created, session_id = cursor.split("-")
    return [_instant(last_activity), _instant(created), session_id]


CURSOR = re.compile(r"[0-9a-f]{1,15}-[0-9a-f]{1,15}-[0-9a-f]{1,64}")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(stored: str) -> str:
    return f"{(parse_instant(stored) - EPOCH) // timedelta(microseconds=1):x}"


def _instant(micros: str) -> str:
    return stored_instant(EPOCH + timedelta(microseconds=int(micros, 16)))
