"""Running projections: read the ledger in order, write read models with their position.

Each projection keeps its position in `projection_tracking`, written in the same transaction as
its read-model rows, so every event is applied exactly once even if a run is killed half-way.
A projection that fails on an event raises; it never skips one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ledger.checkpoints import checkpoint_if_due
from ledger.clock import SystemClock
from ledger.database import Transaction
from ledger.keyring import KeyRing
from ledger.store import LedgerStore

BATCH_SIZE = 500
ERASED = "[erased]"

Handler = Callable[[Any, int, Transaction], None]
Progress = Callable[[int], None]


class Projection:
    """A read model: its tables and one handler per event type it cares about."""

    name: str = ""
    tables: tuple[str, ...] = ()

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    def handlers(self) -> dict[type[Any], Handler]:
        raise NotImplementedError

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

    def catch_up(self, projection: Projection, progress: Progress | None = None) -> int:
        """Apply every event recorded after the projection's position; returns how many."""
        applied = 0
        while True:
            done = self._apply_batch(projection)
            applied += done
            if progress is not None and done:
                progress(done)
            if done < BATCH_SIZE:
                return applied

    def catch_up_all(self) -> None:
        """Every read model, then the signed checkpoint if one is due."""
        for projection in self.projections:
            self.catch_up(projection)
        checkpoint_if_due(
            self.store.database,
            self.store.signing_key,
            self.store.event_count(),
            SystemClock().now(),
        )

    def behind(self) -> bool:
        """Whether any read model has yet to read the newest event (two cheap queries)."""
        head = self.store.event_count()
        with self.store.database.transaction() as tx:
            rows = tx.fetchall("SELECT name, position FROM projection_tracking")
        positions: dict[str, int] = {str(name): int(at) for name, at in rows}
        return any(positions.get(p.name, 0) < head for p in self.projections)

    def rebuild(self, projection: Projection, progress: Progress | None = None) -> int:
        """Empty the read model and replay the whole ledger into it."""
        with self.store.database.transaction() as tx:
            position(tx, projection.name, lock=self.store.database.postgres)
            for table in projection.tables:
                tx.execute(f"DELETE FROM {table}")  # noqa: S608 (names are our constants)
            tx.execute(
                "UPDATE projection_tracking SET position = 0 WHERE name = ?", (projection.name,)
            )
        return self.catch_up(projection, progress)

    def status(self) -> dict[str, dict[str, int]]:
        head = self.store.event_count()
        report = {}
        with self.store.database.transaction() as tx:
            for projection in self.projections:
                at = position(tx, projection.name, lock=False)
                report[projection.name] = {"position": at, "behind": max(head - at, 0)}
        return report

    def _apply_batch(self, projection: Projection) -> int:
        handlers = projection.handlers()
        recorder = self.store.app.recorder
        mapper = self.store.app.mapper
        with self.store.database.transaction() as tx:
            start = position(tx, projection.name, lock=self.store.database.postgres)
            notifications = recorder.select_notifications(start=start + 1, limit=BATCH_SIZE)
            for notification in notifications:
                event = mapper.to_domain_event(notification)
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event, notification.id, tx)
            if notifications:
                tx.execute(
                    "UPDATE projection_tracking SET position = ? WHERE name = ?",
                    (notifications[-1].id, projection.name),
                )
        return len(notifications)
