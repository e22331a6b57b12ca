"""The ledger's own PostgreSQL recorder passes the eventsourcing library's recorder contract.

Each library test runs against a fresh database built from schema.sql alone, through the
recorder exactly as the application configures it (one-call appends via ledger_append_events).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
)

from devtools.postgres_cluster import PgServer
from ledger.recorders_postgres import ChainedPostgresRecorder
from ledger.store import initialise_schema
from ledger.store_location import StoreLocation
from tests.conftest import fresh_pg_database


class OnFreshLedgerDatabase:
    datastore: PostgresDatastore

    @pytest.fixture(autouse=True)
    def _fresh_database(self, pg_server: PgServer) -> Iterator[None]:
        location = StoreLocation.parse(pg_server.url(fresh_pg_database(pg_server)))
        initialise_schema(location)
        self.datastore = PostgresDatastore(
            dbname=location.pg_dbname,
            host=location.pg_host,
            port=location.pg_port,
            user=location.pg_user,
            password=location.pg_password,
        )
        yield
        self.datastore.close()

    def create_recorder(self) -> ChainedPostgresRecorder:
        return ChainedPostgresRecorder(self.datastore, events_table_name="ledger_events")


class TestLedgerRecorderContract(
    OnFreshLedgerDatabase, ApplicationRecorderTestCase[ApplicationRecorder]
):
    # Ids burnt by a conflicting append leave gaps, as with the library's own recorder.
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False


class TestLedgerRecorderNeverInterleaves(
    OnFreshLedgerDatabase, NonInterleavingNotificationIDsBaseCase
):
    pass
