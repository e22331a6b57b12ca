"""The library's SQLite application recorder, extended to write the hash chain and time index.

Each event's chain row (its link hash and timestamp) is inserted in the same transaction as the
event itself, so the two can never disagree about what was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger.chain import GENESIS, ChainRow, link, recorded_at

INSERT_LINK = (
    "INSERT INTO ledger_chain "
    "(notification_id, originator_id, originator_version, recorded_at, chain_hash) "
    "VALUES ({p}, {p}, {p}, {p}, {p})"
)
SELECT_PREVIOUS = (
    "SELECT chain_hash FROM ledger_chain WHERE originator_id = {p} AND originator_version = {p}"
)


def chain_rows(
    stored_events: Sequence[StoredEvent],
    notification_ids: Sequence[int],
    previous_link: Any,
) -> list[ChainRow]:
    """Link each event to the one before it in its stream (earlier in this batch, or stored)."""
    latest: dict[UUID, bytes] = {}
    rows = []
    for event, notification_id in zip(stored_events, notification_ids, strict=True):
        stream = UUID(str(event.originator_id))
        previous = latest.get(stream)
        if previous is None:
            previous = (
                GENESIS
                if event.originator_version == 1
                else previous_link(stream, event.originator_version - 1)
            )
        latest[stream] = link(previous, stream, event.originator_version, event.topic, event.state)
        rows.append(
            ChainRow(
                notification_id,
                stream,
                event.originator_version,
                recorded_at(event.state),
                latest[stream],
            )
        )
    return rows


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        assert notification_ids is not None

        def previous_link(stream: UUID, version: int) -> bytes:
            c.execute(SELECT_PREVIOUS.format(p="?"), (str(stream), version))
            row = c.fetchone()
            return GENESIS if row is None else bytes(row[0])

        for row in chain_rows(stored_events, notification_ids, previous_link):
            c.execute(
                INSERT_LINK.format(p="?"),
                (
                    row.notification_id,
                    str(row.originator_id),
                    row.originator_version,
                    row.recorded_at,
                    row.chain_hash,
                ),
            )
        return notification_ids
