"""The library's SQLite application recorder, extended to write the hash chain and time index.

Each event's chain row (its link hash and timestamp) is inserted in the same transaction as the
event itself, so the two can never disagree about what was recorded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger.chain import GENESIS, ChainLink, link, time_index

INSERT_LINK = (
    "INSERT INTO ledger_chain "
    "(notification_id, originator_id, originator_version, recorded_at, subject_id, chain_hash) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
)
SELECT_PREVIOUS = (
    "SELECT chain_hash FROM ledger_chain WHERE originator_id = {p} AND originator_version = {p}"
)


class RecentLinks:
    """Links of recently committed events, so an append rarely needs to read its predecessor.

    Safe because a committed link never changes; only links of committed transactions enter.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._links: OrderedDict[tuple[UUID, int], bytes] = OrderedDict()
        self._size = size

    def get(self, stream: UUID, version: int) -> bytes | None:
        return self._links.get((stream, version))

    def committed(self, rows: Sequence[ChainLink]) -> None:
        for row in rows:
            self._links[(row.originator_id, row.originator_version)] = row.chain_hash
        while len(self._links) > self._size:
            self._links.popitem(last=False)


RECENT_LINKS = RecentLinks()


def chain_links(
    stored_events: Sequence[StoredEvent], stored_link: Callable[[UUID, int], bytes]
) -> list[ChainLink]:
    """Link each event to the one before it in its stream (in this batch, recent, or stored)."""

    def previous_link(stream: UUID, version: int) -> bytes:
        return RECENT_LINKS.get(stream, version) or stored_link(stream, version)

    latest: dict[UUID, bytes] = {}
    links = []
    for event in stored_events:
        stream = UUID(str(event.originator_id))
        previous = latest.get(stream)
        if previous is None:
            previous = (
                GENESIS
                if event.originator_version == 1
                else previous_link(stream, event.originator_version - 1)
            )
        latest[stream] = link(previous, stream, event.originator_version, event.topic, event.state)
        index = time_index(event.topic, event.state)
        links.append(
            ChainLink(
                stream,
                event.originator_version,
                index.recorded_at,
                index.subject_id,
                latest[stream],
            )
        )
    return links


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._links: list[ChainLink] = []  # filled by _insert_events (one command at a time)
        notification_ids = super().insert_events(stored_events, **kwargs)
        RECENT_LINKS.committed(self._links)  # reached only once the transaction committed
        return notification_ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        assert notification_ids is not None

        def stored_link(stream: UUID, version: int) -> bytes:
            c.execute(SELECT_PREVIOUS.format(p="?"), (str(stream), version))
            row = c.fetchone()
            return GENESIS if row is None else bytes(row[0])

        links = chain_links(stored_events, stored_link)
        self._links += links
        c.executemany(
            INSERT_LINK.format(p="?"),
            [
                (
                    notification_id,
                    str(each.originator_id),
                    each.originator_version,
                    each.recorded_at,
                    each.subject_id,
                    each.chain_hash,
                )
                for notification_id, each in zip(notification_ids, links, strict=True)
            ],
        )
        return notification_ids
