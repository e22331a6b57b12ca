"""`projections run --follow`: a separate worker keeps read models current as events arrive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ledger.events import Context, Stamp
from ledger.organisation import Organisation
from ledger.store import LedgerStore
from projections.catalogue import runner_for
from tests.conftest import T0, wait_for

REPO = Path(__file__).resolve().parents[2]


def positions(store: LedgerStore) -> set[int]:
    return {state["position"] for state in runner_for(store).status().values()}


def test_a_worker_applies_new_events_without_being_asked(
    store: LedgerStore, store_url: str
) -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "cli.py"),
            "--db",
            store_url,
            "projections",
            "run",
            "--follow",
            "--interval",
            "0.2",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert worker.stderr is not None
        assert "Following the ledger" in worker.stderr.readline().decode()
        # Saved straight through the event store: nothing in this process catches up.
        stamp = Stamp(at=T0, context=Context(), sealer=store.keyring)
        for slug in ("acme", "globex"):
            store.app.save(Organisation.create(Organisation.create_id(), slug, stamp))
        head = store.event_count()
        wait_for(lambda: positions(store) == {head}, timeout=30)
        with store.database.transaction() as tx:
            slugs = tx.fetchall("SELECT slug FROM rm_organisations ORDER BY slug")
        assert slugs == [("acme",), ("globex",)]
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=10)
    assert worker.returncode == 0, errors.decode()
