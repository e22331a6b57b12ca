"""The PostgreSQL application recorder: each append is one round trip to the server.

The library's recorder sends the table lock, NOTIFY, the insert and the commit as separate
statements (about 2 ms a command here). This one computes the events' chain links first and
hands events and links to `ledger_append_events` (schema.sql), which takes the same EXCLUSIVE
table lock, notifies, inserts both and commits in a single call. The lock keeps notification ids
in commit order, so a reader tailing the log never skips an event. Reading, subscribing and
everything else is the library's own. Kept apart from the SQLite recorder so that the embedded
store never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

from ledger.chain import GENESIS
from ledger.recorders import RECENT_LINKS, SELECT_PREVIOUS, chain_links

APPEND = (
    "SELECT notification_id FROM ledger_append_events(%s, %s, %s, %s, %s, %s, %s) "
    "AS appended(notification_id)"
)


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

    def _stored_link(self, stream: UUID, version: int) -> bytes:
        with self.datastore.get_connection() as conn:
            row = conn.execute(SELECT_PREVIOUS.format(p="%s"), (str(stream), version)).fetchone()
        return GENESIS if row is None else bytes(row["chain_hash"])
