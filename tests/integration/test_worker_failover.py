"""Several projection workers on PostgreSQL: exactly one is active, another takes over at once
when it dies (kill -9), and the read models end up complete: exactly what a rebuild gives."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmarks.scenarios import build_long_history
from devtools.postgres_cluster import PgServer
from ledger.events import Context, Stamp
from ledger.organisation import Organisation
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation
from projections.catalogue import runner_for
from tests.conftest import T0, fresh_pg_database, wait_for
from tests.integration.test_projections import read_models

REPO = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "cli.py"), "--db", url, "projections", "run", "--follow"],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.strip())

    def next_state(self, timeout: float = 15.0) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith("Worker "):
                return line.removeprefix("Worker ")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


def record_organisations(store: LedgerStore, *slugs: str) -> None:
    """Appended straight through the event store: only a worker brings read models along."""
    stamp = Stamp(at=T0, context=Context(), sealer=store.keyring)
    for slug in slugs:
        store.app.save(Organisation.create(Organisation.create_id(), slug, stamp))


def positions(store: LedgerStore) -> set[int]:
    return {state["position"] for state in runner_for(store).status().values()}


def slugs(store: LedgerStore) -> list[str]:
    with store.database.transaction() as tx:
        return [row[0] for row in tx.fetchall("SELECT slug FROM rm_organisations ORDER BY slug")]


@pytest.fixture
def url(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh, initialised PostgreSQL store of this test's own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = pg_server.url(fresh_pg_database(pg_server))
    initialise_schema(StoreLocation.parse(url))
    return url


def test_one_worker_is_active_and_another_takes_over_when_it_is_killed(url: str) -> None:
    store = LedgerStore(StoreLocation.parse(url))
    first = Worker(url)
    try:
        assert first.next_state() == "active"
        second = Worker(url)
        try:
            assert second.next_state() == "standing by: another worker is active"
            record_organisations(store, "acme", "globex")
            wait_for(lambda: slugs(store) == ["acme", "globex"])

            first.process.kill()  # kill -9: no clean shutdown, no unlock
            first.process.wait(timeout=10)
            assert second.next_state(timeout=10) == "active"

            record_organisations(store, "initech")
            head = store.event_count()
            wait_for(lambda: slugs(store) == ["acme", "globex", "initech"])
            # ...and every other read model follows (the worker takes them one by one).
            wait_for(lambda: positions(store) == {head}, timeout=30)
        finally:
            second.stop()
    finally:
        first.stop()
        store.close()


def test_a_worker_killed_mid_batch_resumes_into_exactly_what_a_rebuild_gives(url: str) -> None:
    build_long_history(url, 10_000)  # sign-ins, sessions, workspaces: every read model moves
    store = LedgerStore(StoreLocation.parse(url))
    head = store.event_count()
    try:
        first = Worker(url)
        try:
            wait_for(lambda: min(positions(store)) > 0, timeout=30)
            first.process.kill()  # kill -9 while it works through the backlog
            first.process.wait(timeout=10)
        finally:
            first.stop()
        stopped_at = min(positions(store))
        assert stopped_at < head, "the worker finished before it could be killed"

        second = Worker(url)
        try:
            wait_for(lambda: positions(store) == {head}, timeout=60)
        finally:
            second.stop()
        followed = read_models(store)
        runner_for(store).rebuild()
        assert read_models(store) == followed
        assert len(followed["rm_login_history"]) > 0 and len(followed["rm_audit_log"]) > 0
        print(f"\nkilled at {stopped_at} of {head} events; resumed to identical read models")
    finally:
        store.close()
