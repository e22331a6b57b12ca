"""Shared fixtures: every store-backed test runs on SQLite AND on PostgreSQL.

PostgreSQL comes from FLERO_LEDGER_TEST_DSN when set (a database the tests may create databases
in), otherwise from a throwaway cluster started here with the machine's initdb/pg_ctl (run as
the `postgres` OS user when the tests run as root). Each test gets a fresh database.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from eventsourcing.postgres import PostgresDatastore

from cli import main
from commands.services import Services
from devtools.postgres_cluster import PgServer, PostgresMissing, throwaway_cluster
from ledger.clock import FixedClock, format_instant
from ledger.recorders_postgres import ChainedPostgresRecorder
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation

TEST_DSN_ENV = "FLERO_LEDGER_TEST_DSN"
T0 = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)


# ---- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    dsn = os.environ.get(TEST_DSN_ENV)
    if dsn:
        loc = StoreLocation.parse(dsn)
        yield PgServer(loc.pg_host, int(loc.pg_port), loc.pg_user, loc.pg_password)
        return
    try:
        with throwaway_cluster() as server:
            yield server
    except PostgresMissing as missing:
        pytest.fail(f"{missing} (.ci/run installs it with apt-get)")


_database_numbers = itertools.count()


def fresh_pg_database(server: PgServer) -> str:
    return server.fresh_database(f"flero_test_{os.getpid()}_{next(_database_numbers)}")


@contextmanager
def ledger_recorder(location: StoreLocation, **pool: int) -> Iterator[ChainedPostgresRecorder]:
    """The ledger's PostgreSQL recorder on `location`'s database, as the application makes it."""
    datastore = PostgresDatastore(
        dbname=location.pg_dbname,
        host=location.pg_host,
        port=location.pg_port,
        user=location.pg_user,
        password=location.pg_password,
        **pool,
    )
    try:
        yield ChainedPostgresRecorder(datastore, events_table_name="ledger_events")
    finally:
        datastore.close()


# ---- one store per test, on each backend -------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A fresh, initialised store; its master key lives in the test's own directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("FLERO_LEDGER_MASTER_KEY", raising=False)
    monkeypatch.delenv("FLERO_LEDGER_NOW", raising=False)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        url = server.url(fresh_pg_database(server))
    # As `flero-ledger init` would: commands that only read never create a store.
    initialise_schema(StoreLocation.parse(url))
    monkeypatch.setenv("FLERO_LEDGER_DB", url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[LedgerStore]:
    opened = LedgerStore(StoreLocation.parse(store_url))
    yield opened
    opened.close()


@pytest.fixture
def services(store: LedgerStore) -> Services:
    return Services(store=store, clock=FixedClock(T0))


# ---- the command line, as a user runs it --------------------------------------------------


@pytest.fixture(autouse=True)
def no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text output as piped, whatever width the test runner's environment claims (pytest-xdist's
    workers inherit a COLUMNS); a test wanting a narrow terminal sets COLUMNS itself."""
    monkeypatch.delenv("COLUMNS", raising=False)


class Ledger:
    """Runs `flero-ledger` in-process, at a chosen instant, and reads its JSON."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.now = T0
        self.runner = CliRunner()

    def at(self, instant: datetime) -> Ledger:
        self.now = instant
        return self

    def later(self, **delta: float) -> Ledger:
        self.now = self.now + timedelta(**delta)
        return self

    def run(self, *args: str, stdin: str | bytes | None = None) -> Result:
        result = self.runner.invoke(
            main, ["--db", self.url, "--now", format_instant(self.now), *args], input=stdin
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    def ok(self, *args: str, stdin: str | bytes | None = None) -> Any:
        """Run with --json; it must succeed; returns the parsed document."""
        result = self.run(*args, "--json", stdin=stdin)
        assert result.exit_code == 0, result.output + result.stderr
        return json.loads(result.stdout)

    def refused(
        self, *args: str, code: str | None = None, stdin: str | bytes | None = None
    ) -> dict[str, Any]:
        """Run with --json; it must exit 1; returns the error document."""
        result = self.run(*args, "--json", stdin=stdin)
        assert result.exit_code == 1, result.output
        document = json.loads(result.stdout)
        if code is not None:
            assert document["error"]["code"] == code, document
        return dict(document)

    def bad_input(self, *args: str, stdin: str | bytes | None = None) -> Result:
        result = self.run(*args, stdin=stdin)
        assert result.exit_code == 2, result.output
        return result

    def event_count(self) -> int:
        return int(self.ok("info")["events"])


@pytest.fixture
def ledger(store_url: str) -> Ledger:
    return Ledger(store_url)


@pytest.fixture
def account(ledger: Ledger) -> str:
    """An organisation `acme` and its member ada@acme.test."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", "ada@acme.test", "--org", "acme")
    return "ada@acme.test"


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
