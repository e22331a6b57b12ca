"""Snapshots, as `verify --store` sees them: each one must be authenticated by the ledger's key
and hold exactly the state its aggregate's events add up to at its version.

Loading never trusts a snapshot that is not authenticated (snapshots.py); this finds it, and
also a snapshot that is authenticated but wrong (which only a bug, or someone holding the
master key, could make).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent

from ledger.application import SecurityLedger
from ledger.database import Database
from ledger.store_location import StoreLocation

if TYPE_CHECKING:
    from ledger.store import LedgerStore  # which imports this module

PAGE = 5000  # events of one stream read at a time
AUDITED_STORE_ENV = "FLERO_LEDGER_AUDITED_STORE"


@dataclass(frozen=True)
class SnapshotProblem:
    stream: UUID
    version: int
    detail: str


def first_snapshot_problem(store: LedgerStore) -> SnapshotProblem | None:
    """Each aggregate that has snapshots in turn: its snapshots checked, then its events up to
    the newest one replayed and compared with each as it reaches that version. One aggregate
    (and one page of its events) is held at a time, whatever the store's size."""
    for _, stream, snapshots in _snapshots_by_stream(
        store.app, store.database, store.snapshot_table
    ):
        problem = _audit(store, stream, snapshots)
        if problem is not None:
            return problem
    return None


def first_snapshot_problem_at(location: StoreLocation) -> SnapshotProblem | None:
    """`first_snapshot_problem` on a store of its own (for a process of its own: verify_store
    audits snapshots beside its reading of the log)."""
    from ledger.store import LedgerStore  # the store module imports this one

    store = LedgerStore(location, create=False)
    try:
        return first_snapshot_problem(store)
    finally:
        store.close()


def main() -> None:
    """`python -m ledger.snapshot_audit`, as verify_store runs it in a process of its own: the
    store's location as JSON in AUDITED_STORE_ENV, the first problem found as JSON on stdout
    (null: none)."""
    problem = first_snapshot_problem_at(StoreLocation.from_json(os.environ[AUDITED_STORE_ENV]))
    json.dump(problem and {**asdict(problem), "stream": str(problem.stream)}, sys.stdout)


def _audit(
    store: LedgerStore, stream: UUID, snapshots: list[StoredEvent]
) -> SnapshotProblem | None:
    app = store.app
    waiting = {}  # the authenticated snapshots not reached yet, by version
    for stored in snapshots:
        trusted = app.authenticated_snapshots.seal.open(stored)
        if trusted is None:
            return SnapshotProblem(
                stream,
                stored.originator_version,
                "this snapshot is not authenticated by the ledger's key (it is never loaded: "
                "the aggregate is replayed from its events instead)",
            )
        waiting[trusted.originator_version] = _state(app, trusted)
    aggregate: Any = None
    for stored in _events_up_to(store, stream, max(waiting)):
        # What `project_aggregate` does, without its isinstance check against a runtime
        # protocol per event (half the cost of replaying a long stream).
        event: Any = app.mapper.to_domain_event(stored)
        aggregate = event.mutate(aggregate)
        held = waiting.pop(aggregate.version, None)
        if held is None:
            continue
        if held != _state(app, app.mapper.to_stored_event(Snapshot.take(aggregate))):
            differs = "this snapshot differs from the aggregate replayed from its events"
            return SnapshotProblem(stream, aggregate.version, differs)
    if waiting:
        never = "this snapshot claims a version its stream never reached"
        return SnapshotProblem(stream, min(waiting), never)
    return None


def _events_up_to(store: LedgerStore, stream: UUID, version: int) -> Iterator[StoredEvent]:
    """The stream's events up to `version`, as the server sends them (one binary cursor)."""
    key = stream if store.database.postgres else stream.hex  # as the library stores it
    rows = store.database.stream(
        f"SELECT originator_version, topic, state FROM {store.event_table} "  # noqa: S608
        "WHERE originator_id = ? AND originator_version <= ? ORDER BY originator_version",
        (key, version),
        batch=PAGE,
    )
    for number, topic, state in rows:
        yield StoredEvent(stream, number, topic, bytes(state))


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


if __name__ == "__main__":
    main()
