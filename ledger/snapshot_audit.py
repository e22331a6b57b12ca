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


def first_snapshot_problem(
    app: SecurityLedger, database: Database, table: str
) -> SnapshotProblem | None:
    """Replays every aggregate that has snapshots and compares it with each of them."""
    for _, stream, snapshots in _snapshots_by_stream(app, database, table):
        opened = {}
        for stored in snapshots:
            trusted = app.authenticated_snapshots.seal.open(stored)
            if trusted is None:
                return SnapshotProblem(
                    stream,
                    stored.originator_version,
                    "this snapshot is not authenticated by the ledger's key (it is never "
                    "loaded: the aggregate is replayed from its events instead)",
                )
            opened[stored.originator_version] = _state(app, trusted)
        problem = _compare_with_replay(app, stream, opened)
        if problem is not None:
            return problem
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


def _compare_with_replay(
    app: SecurityLedger, stream: UUID, snapshots: dict[int, tuple[str, dict[str, Any]]]
) -> SnapshotProblem | None:
    aggregate: Any = None
    events: Iterator[Any] = iter(app.events.get(stream))
    for event in events:
        # What `project_aggregate` does, without its isinstance check against a runtime
        # protocol per event (half the cost of replaying a long stream).
        aggregate = event.mutate(aggregate)
        held = snapshots.pop(aggregate.version, None)
        if held is not None:
            replayed = _state(app, app.mapper.to_stored_event(Snapshot.take(aggregate)))
            if held != replayed:
                return SnapshotProblem(
                    stream,
                    aggregate.version,
                    "this snapshot differs from the aggregate replayed from its events",
                )
    if snapshots:
        return SnapshotProblem(
            stream, min(snapshots), "this snapshot claims a version its stream never reached"
        )
    return None
