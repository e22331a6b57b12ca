"""Exactly once when the connection breaks during an append (PostgreSQL).

The relay in front of the server cuts one exchange: the append's request before the server sees
it, or the server's reply after it has committed. Either way the recorder answers with the
events recorded exactly once, at the positions the store holds them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import StoredEvent

from devtools.postgres_cluster import PgServer
from ledger.recorders_postgres import ChainedPostgresRecorder
from ledger.store import initialise_schema
from ledger.store_location import StoreLocation
from tests.conftest import fresh_pg_database, ledger_recorder
from tests.connection_cutter import ConnectionCutter, Cut, cutter_for


@pytest.fixture
def cutter(pg_server: PgServer) -> Iterator[ConnectionCutter]:
    with cutter_for(pg_server) as cutter:
        yield cutter


@pytest.fixture
def recorder(pg_server: PgServer, cutter: ConnectionCutter) -> Iterator[ChainedPostgresRecorder]:
    location = StoreLocation.parse(cutter.url(fresh_pg_database(pg_server)))
    initialise_schema(location)
    with ledger_recorder(location, pool_size=1) as recorder:
        recorder.insert_events(events(1))  # the connection exists, the append is prepared on it
        yield recorder


def events(count: int) -> list[StoredEvent]:
    stream = uuid.uuid4()
    return [
        StoredEvent(stream, version, "tests:Appended", uuid.uuid4().bytes)
        for version in range(1, count + 1)
    ]


@pytest.mark.parametrize(("cut", "landed_before_the_cut"), [("request", False), ("reply", True)])
def test_an_append_whose_connection_breaks_is_recorded_exactly_once(
    recorder: ChainedPostgresRecorder,
    cutter: ConnectionCutter,
    caplog: pytest.LogCaptureFixture,
    cut: Cut,
    landed_before_the_cut: bool,
) -> None:
    appended = events(3)
    cutter.arm(cut)
    with caplog.at_level(logging.WARNING, logger="ledger.recorders_postgres"):
        positions = recorder.insert_events(appended)
    notes = " ".join(record.getMessage() for record in caplog.records)
    assert "the connection broke during an append" in notes
    assert ("the append did not land; appending again" in notes) is not landed_before_the_cut
    stored = recorder.select_events(appended[0].originator_id)
    assert [e.state for e in stored] == [e.state for e in appended]
    log = recorder.select_notifications(start=1, limit=100)
    assert [n.id for n in log if n.originator_id == appended[0].originator_id] == list(positions)
    assert len(log) == 4  # the warm-up event and these three, none twice
