"""The PostgreSQL application recorder: appends that do not queue behind each other's commits.

The library's recorder takes an EXCLUSIVE table lock and holds it through the commit, so that
notification ids commit in order; concurrent commands then wait for each other's WAL flush one
by one. This one computes the events' chain links first and hands events and links to
`ledger_append_events` (schema.sql), which draws a block of positions, inserts both and commits
in a single call while concurrent appends commit together. Readers instead ask
`ledger_readable_position()` how far the log is complete, and never read past it, so a reader
tailing the log still never skips an event that a slower append fills in later. Kept apart from
the SQLite recorder so that the embedded store never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

from ledger.chain import GENESIS
from ledger.recorders import RECENT_LINKS, SELECT_PREVIOUS, chain_links

APPEND = (
    "SELECT notification_id FROM ledger_append_events(%s, %s, %s, %s, %s, %s, %s) "
    "AS appended(notification_id)"
)
READABLE = "SELECT ledger_readable_position() AS position"


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        links = chain_links(stored_events, self._stored_link)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            [each.recorded_at for each in links],
            [each.subject_id for each in links],
            [each.chain_hash for each in links],
        )
        with self.datastore.get_connection() as conn:  # autocommit: the call is a transaction
            rows = conn.execute(APPEND, columns, prepare=True).fetchall()
        RECENT_LINKS.committed(links)
        return [row["notification_id"] for row in rows]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def max_notification_id(self) -> int | None:
        """The highest position every reader may rely on: nothing at or below it is in flight."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(READABLE, prepare=True).fetchone()
        return None if row is None else row["position"]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """As the library's, but never past the readable position."""
        readable = self.max_notification_id()
        if readable is None:
            return []
        notifications: Sequence[Notification] = super().select_notifications(
            start,
            limit,
            readable if stop is None else min(stop, readable),
            topics,
            inclusive_of_start=inclusive_of_start,
        )
        return notifications

    def _stored_link(self, stream: UUID, version: int) -> bytes:
        with self.datastore.get_connection() as conn:
            row = conn.execute(SELECT_PREVIOUS.format(p="%s"), (str(stream), version)).fetchone()
        return GENESIS if row is None else bytes(row["chain_hash"])
