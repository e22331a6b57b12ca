"""The library's PostgreSQL application recorder, extended to write the hash chain.

Kept apart from the SQLite one so that the embedded store never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from ledger.chain import GENESIS, ChainRow
from ledger.recorders import INSERT_LINK, RECENT_LINKS, SELECT_PREVIOUS, chain_rows


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._rows: list[ChainRow] = []  # filled below (one command at a time)
        notification_ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        RECENT_LINKS.committed(self._rows)  # reached only once the transaction committed
        return notification_ids

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert notification_ids is not None

        def previous_link(stream: UUID, version: int) -> bytes:
            curs.execute(SELECT_PREVIOUS.format(p="%s"), (str(stream), version))
            row = curs.fetchone()
            return GENESIS if row is None else bytes(row["chain_hash"])

        rows = chain_rows(stored_events, notification_ids, previous_link)
        self._rows += rows
        curs.executemany(
            INSERT_LINK.format(p="%s"),
            [
                (
                    r.notification_id,
                    str(r.originator_id),
                    r.originator_version,
                    r.recorded_at,
                    r.chain_hash,
                )
                for r in rows
            ],
        )
        return notification_ids
