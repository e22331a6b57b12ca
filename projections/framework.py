"""Running projections: read the ledger in order, write read models with their position.

Each projection keeps its position in `projection_tracking`, written in the same transaction as
its read-model rows, so every event is applied exactly once even if a run is killed half-way.
A projection that fails on an event raises; it never skips one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import resolve_topic

from ledger.checkpoints import checkpoint_if_due
from ledger.clock import SystemClock
from ledger.database import Transaction
from ledger.keyring import KeyRing
from ledger.store import LedgerStore
from projections.bulk import fresh_read_models

BATCH_SIZE = 500
REBUILD_BATCH = 5000  # a rebuild's COPY per batch: larger batches, still bounded memory
ERASED = "[erased]"

Handler = Callable[[Any, int, Transaction], None]
Progress = Callable[[int], None]


class Projection:
    """A read model: its tables and one handler per event type it cares about."""

    name: str = ""
    tables: tuple[str, ...] = ()
    # Tables its handlers only `insert` into during a bulk rebuild (`tx.bulk`): sent by COPY.
    copied: tuple[str, ...] = ()

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def handlers(self) -> dict[type[Any], Handler]:
        raise NotImplementedError

    def rebuilding(self, tx: Transaction) -> None:
        """What a rebuild sets up before its first event (nothing, unless overridden)."""

    def rebuilt(self, tx: Transaction) -> None:
        """What a bulk rebuild leaves until every event is in (nothing, unless overridden)."""

    def unseal(self, sealed: str | None) -> str | None:
        """Personal data for display; `[erased]` once its owner's key is gone."""
        if sealed is None:
            return None
        opened = self.keyring.open(sealed)
        return ERASED if opened is None else opened


def position(tx: Transaction, name: str, lock: bool) -> int:
    tx.execute(
        "INSERT INTO projection_tracking (name, position) VALUES (?, 0) "
        "ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    sql = "SELECT position FROM projection_tracking WHERE name = ?"
    row = tx.fetchone(sql + (" FOR UPDATE" if lock else ""), (name,))
    assert row is not None
    return int(row[0])


class ProjectionRunner:
    def __init__(self, store: LedgerStore, projections: Iterable[Projection]) -> None:
        self.store = store
        self.projections = list(projections)

    def by_name(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        known = ", ".join(p.name for p in self.projections)
        raise KeyError(f"no projection {name!r} (known: {known})")

    def catch_up(self, *projections: Projection, progress: Progress | None = None) -> int:
        """Apply every event recorded after each read model's position (all of them if none
        is named), reading and decoding the log once for all; returns how many events were read.
        """
        chosen = projections or tuple(self.projections)
        read = 0
        while True:
            done = self._apply_batch(chosen)
            read += done
            if progress is not None and done:
                progress(done)
            if done < BATCH_SIZE:
                return read

    def catch_up_all(self) -> None:
        """Every read model, then the signed checkpoint if one is due."""
        self.catch_up()
        checkpoint_if_due(
            self.store.database,
            self.store.signing_key,
            self.store.head_position(),
            SystemClock().now(),
            self.store.checkpoint_anchor,
        )

    def behind(self) -> bool:
        """Whether any read model has yet to read the newest event: one statement, outside a
        transaction (every query of the Security tab asks first)."""
        (rows,) = self.store.database.reads(self.lag_query())
        return self.lagging(rows)

    def lag_query(self) -> tuple[str, tuple[str, ...]]:
        """One statement, one snapshot: the newest event's position, how many of the read
        models have a position yet, and the lowest of those positions. Asked with the question
        itself (`Database.reads`), it costs no round trip of its own."""
        events, at = self.store.event_table, self.store.event_position
        names = tuple(p.name for p in self.projections)
        marks = ", ".join("?" * len(names))
        tracked = f"FROM projection_tracking WHERE name IN ({marks})"
        sql = (
            f"SELECT (SELECT MAX({at}) FROM {events}), "  # noqa: S608 (our names, not input)
            f"(SELECT COUNT(*) {tracked}), (SELECT MIN(position) {tracked})"
        )
        return sql, names + names

    def lagging(self, rows: Sequence[Sequence[Any]]) -> bool:
        """`lag_query`'s answer: whether some read model is behind the newest event."""
        newest, tracked, slowest = rows[0]
        head = int(newest or 0)
        if head == 0:
            return False
        return int(tracked) < len(self.projections) or int(slowest or 0) < head

    def rebuild(self, *projections: Projection, progress: Progress | None = None) -> int:
        """Replay the whole ledger into fresh read models (all of them if none is named) in one
        pass and one transaction, swap them in (see projections/bulk.py), then catch up with
        what was appended meanwhile; returns how many events were read.

        The replay stops at the highest position safe to read when it starts: beyond it an
        event still being appended could be passed over.
        """
        chosen = projections or tuple(self.projections)
        stop = self.store.app.recorder.max_notification_id() or 0
        database = self.store.database
        tables = [table for projection in chosen for table in projection.tables]
        copied = [table for projection in chosen for table in projection.copied]
        with (
            database.transaction() as tx,
            fresh_read_models(tx, tables, copied, database) as into,
        ):
            for projection in chosen:
                projection.rebuilding(into)
            read = self._replay(chosen, into, stop, progress)
            for projection in chosen:
                projection.rebuilt(into)
                # Waits for a catch-up in flight; one starting now waits for this commit.
                position(tx, projection.name, lock=database.postgres)
                tx.execute(
                    "UPDATE projection_tracking SET position = ? WHERE name = ?",
                    (stop, projection.name),
                )
        return read + self.catch_up(*chosen, progress=progress)

    def _replay(
        self,
        projections: tuple[Projection, ...],
        tx: Transaction,
        stop: int,
        progress: Progress | None,
    ) -> int:
        readers = [(0, projection.handlers()) for projection in projections]
        read = last = 0
        while last < stop:
            notifications = self.store.app.recorder.select_notifications(
                start=last + 1, limit=REBUILD_BATCH, stop=stop
            )
            if not notifications:
                break
            with tx.pipelined():
                _apply(notifications, readers, tx, self.store.app.mapper)
            last = notifications[-1].id
            read += len(notifications)
            if progress is not None:
                progress(len(notifications))
        return read

    def status(self) -> dict[str, dict[str, int]]:
        head = self.store.head_position()
        report = {}
        with self.store.database.transaction() as tx:
            for projection in self.projections:
                at = position(tx, projection.name, lock=False)
                report[projection.name] = {"position": at, "behind": max(head - at, 0)}
        return report

    def _apply_batch(self, projections: tuple[Projection, ...]) -> int:
        """One transaction: the next events after the furthest-behind read model, each applied
        to every read model that has not seen it yet, and their new positions."""
        recorder = self.store.app.recorder
        mapper = self.store.app.mapper
        lock = self.store.database.postgres
        with self.store.database.transaction(pipelined=True) as tx:
            names = [p.name for p in projections]
            readers = [(position(tx, p.name, lock), p.handlers()) for p in projections]
            start = min(at for at, _ in readers)
            notifications = recorder.select_notifications(start=start + 1, limit=BATCH_SIZE)
            _apply(notifications, readers, tx, mapper)
            if notifications:
                for name, (at, _) in zip(names, readers, strict=True):
                    if notifications[-1].id > at:
                        tx.execute(
                            "UPDATE projection_tracking SET position = ? WHERE name = ?",
                            (notifications[-1].id, name),
                        )
        return len(notifications)


def _apply(
    notifications: Sequence[Notification],
    readers: Sequence[tuple[int, dict[type[Any], Handler]]],
    tx: Transaction,
    mapper: Mapper[Any],
) -> None:
    """Each event to every read model that has not seen it (its position is below)."""
    for notification in notifications:
        kind = resolve_topic(notification.topic)
        event: Any = None  # decoded once, and only if some read model reads it
        for at, handlers in readers:
            handler = handlers.get(kind)
            if handler is not None and notification.id > at:
                if event is None:
                    event = mapper.to_domain_event(notification)
                handler(event, notification.id, tx)
