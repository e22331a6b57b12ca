"""A reader following the log on PostgreSQL never misses an event while writers append at once.

Appends no longer hold a table lock through their commit, so a later append can commit before
an earlier one. The writers here widen that window on purpose: each appends through the same
`ledger_append_events` call as the recorder, then sleeps a random few milliseconds before its
commit. The follower reads as every reader of the ledger does, through the recorder.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from devtools.postgres_cluster import PgServer
from ledger.recorders_postgres import APPEND, ChainedPostgresRecorder
from ledger.store import initialise_schema
from ledger.store_location import StoreLocation
from tests.conftest import fresh_pg_database, ledger_recorder

WRITERS = 4
APPENDS_PER_WRITER = 60
TIME_LIMIT_SECONDS = 60


@pytest.fixture
def location(pg_server: PgServer) -> StoreLocation:
    location = StoreLocation.parse(pg_server.url(fresh_pg_database(pg_server)))
    initialise_schema(location)
    return location


@pytest.fixture
def recorder(location: StoreLocation) -> Iterator[ChainedPostgresRecorder]:
    with ledger_recorder(location) as recorder:
        yield recorder


def connect(location: StoreLocation) -> psycopg.Connection[Any]:
    return psycopg.connect(location.pg_conninfo())


def append(conn: psycopg.Connection[Any], events: int) -> None:
    """Append `events` events of a new stream in the open transaction (not committed)."""
    stream = uuid.uuid4()
    versions = list(range(1, events + 1))
    conn.execute(
        APPEND,
        (
            [stream] * events,
            versions,
            ["tests:Appended"] * events,
            [b"{}"] * events,
            ["2026-11-30T00:00:00.000000+00:00"] * events,
            [None] * events,
            [bytes(32)] * events,
        ),
    ).fetchall()


def test_a_reader_waits_for_an_earlier_append_still_in_flight(
    location: StoreLocation, recorder: ChainedPostgresRecorder
) -> None:
    with connect(location) as slow, connect(location) as quick:
        append(slow, 1)  # draws position 1, then does not commit yet
        append(quick, 1)  # draws position 2
        quick.commit()
        answered: list[int | None] = []
        reader = threading.Thread(target=lambda: answered.append(recorder.max_notification_id()))
        reader.start()
        reader.join(timeout=1.0)
        assert reader.is_alive(), "the reader went past position 1 while it was in flight"
        slow.commit()
        reader.join(timeout=10)
    assert answered == [2]
    assert [n.id for n in recorder.select_notifications(start=1, limit=10)] == [1, 2]


def test_a_reader_following_the_log_never_misses_an_event(
    location: StoreLocation, recorder: ChainedPostgresRecorder
) -> None:
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    writers_done = threading.Event()
    failures: list[BaseException] = []

    def write(seed: int) -> None:
        chance = random.Random(seed)
        try:
            with connect(location) as conn:
                for _ in range(APPENDS_PER_WRITER):
                    if time.monotonic() > deadline:
                        return
                    append(conn, chance.randint(1, 3))
                    time.sleep(chance.uniform(0, 0.01))  # in flight a while
                    conn.commit()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    seen: list[int] = []

    def follow() -> None:
        try:
            while True:
                done = writers_done.is_set()
                batch = recorder.select_notifications(start=(seen[-1] + 1) if seen else 1, limit=50)
                seen.extend(n.id for n in batch)
                if done and not batch:
                    return
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    follower = threading.Thread(target=follow)
    follower.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    writers_done.set()
    follower.join(timeout=TIME_LIMIT_SECONDS)
    assert not failures, failures
    with connect(location) as conn:
        recorded = [row[0] for row in conn.execute("SELECT notification_id FROM ledger_events")]
    assert len(recorded) > WRITERS * 10
    assert seen == sorted(recorded)
