"""Snapshots, as `verify --store` sees them: each one must be authenticated by the ledger's key
and hold exactly the state its aggregate's events add up to at its version.

Loading never trusts a snapshot that is not authenticated (snapshots.py); this finds it, and
also a snapshot that is authenticated but wrong (which only a bug, or someone holding the
master key, could make).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from ledger.application import SecurityLedger
from ledger.database import Database


@dataclass(frozen=True)
class SnapshotProblem:
    stream: UUID
    version: int
    detail: str


class SnapshotAudit:
    """Replays every aggregate that has snapshots as `verify --store` reads its events, in the
    order recorded, and compares it with each snapshot as it reaches that version.

    Only aggregates still short of their newest snapshot are held. Replaying them from the
    events verify reads anyway spares reading each of their streams again (a query apiece).
    The snapshots are loaded before verify opens its cursor, which therefore sees the events
    each one was taken from."""

    def __init__(self, app: SecurityLedger, database: Database, table: str) -> None:
        self.app = app
        self._unauthenticated: SnapshotProblem | None = None
        self._differs: SnapshotProblem | None = None
        # Authenticated snapshots not reached yet, by stream and version; their aggregates.
        self._waiting: dict[UUID, dict[int, tuple[str, dict[str, Any]]]] = {}
        self._replayed: dict[UUID, Any] = {}
        for _, stream, snapshots in _snapshots_by_stream(app, database, table):
            opened = {}
            for stored in snapshots:
                trusted = app.authenticated_snapshots.seal.open(stored)
                if trusted is None:
                    self._unauthenticated = self._unauthenticated or SnapshotProblem(
                        stream,
                        stored.originator_version,
                        "this snapshot is not authenticated by the ledger's key (it is never "
                        "loaded: the aggregate is replayed from its events instead)",
                    )
                else:
                    opened[stored.originator_version] = _state(app, trusted)
            self._waiting[stream] = opened

    def read(self, stream: UUID, version: int, topic: str, state: bytes) -> None:
        """The next event of `stream` (in the order its versions were recorded)."""
        snapshots = self._waiting.get(stream)
        if not snapshots or self._differs is not None:
            return
        event: Any = self.app.mapper.to_domain_event(StoredEvent(stream, version, topic, state))
        # What `project_aggregate` does, without its isinstance check against a runtime
        # protocol per event (half the cost of replaying a long stream).
        aggregate = event.mutate(self._replayed.get(stream))
        self._replayed[stream] = aggregate
        held = snapshots.pop(aggregate.version, None)
        if held is not None:
            replayed = _state(self.app, self.app.mapper.to_stored_event(Snapshot.take(aggregate)))
            if held != replayed:
                self._differs = SnapshotProblem(
                    stream,
                    aggregate.version,
                    "this snapshot differs from the aggregate replayed from its events",
                )
        if not snapshots:
            del self._replayed[stream]  # its newest snapshot is checked: nothing left to hold

    def first_problem(self) -> SnapshotProblem | None:
        """Once every event is read: the first snapshot found wrong, or one never reached."""
        if self._unauthenticated is not None or self._differs is not None:
            return self._unauthenticated or self._differs
        for stream, snapshots in self._waiting.items():
            if snapshots:
                never = "this snapshot claims a version its stream never reached"
                return SnapshotProblem(stream, min(snapshots), never)
        return None


def drop_unauthenticated_snapshots(app: SecurityLedger, database: Database, table: str) -> None:
    """Delete every snapshot whose MAC does not verify (they are a cache: taken again later)."""
    for stored_id, _, snapshots in _snapshots_by_stream(app, database, table):
        for stored in snapshots:
            if app.authenticated_snapshots.seal.open(stored) is None:
                with database.transaction() as tx:
                    tx.execute(
                        f"DELETE FROM {table} WHERE originator_id = ? "  # noqa: S608
                        "AND originator_version = ?",
                        (stored_id, stored.originator_version),
                    )


def _snapshots_by_stream(
    app: SecurityLedger, database: Database, table: str
) -> Iterator[tuple[Any, UUID, list[StoredEvent]]]:
    """Each aggregate that has snapshots (its id as the table holds it, and as a UUID), with
    its snapshots, oldest first."""
    with database.transaction() as tx:
        streams = tx.fetchall(f"SELECT DISTINCT originator_id FROM {table}")  # noqa: S608
    recorder = app.authenticated_snapshots.recorder
    for (stored_id,) in streams:
        stream = UUID(str(stored_id))
        yield stored_id, stream, list(recorder.select_events(stream))


def _state(app: SecurityLedger, stored: StoredEvent) -> tuple[str, dict[str, Any]]:
    """What a snapshot holds: the aggregate's topic and its attributes, decoded."""
    snapshot = app.mapper.to_domain_event(stored)
    assert isinstance(snapshot, Snapshot)
    return snapshot.topic, snapshot.state
