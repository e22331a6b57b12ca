"""What the hash chain costs per event: the same saves with and without the chained recorder.

Usage: python benchmarks/chain_cost.py [--events N] [--db URL ...]
(default: a temporary SQLite file; add a postgresql:// URL of an empty, initialised database).
Prints events/s and microseconds per event for the library's plain recorder and ours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from ledger.account import Account
from ledger.clock import SystemClock
from ledger.events import Context, Stamp
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation

PLAIN = {
    "sqlite": "eventsourcing.sqlite:SQLiteApplicationRecorder",
    "postgresql": "eventsourcing.postgres:PostgresApplicationRecorder",
}


def run(url: str, events: int, chained: bool) -> float:
    """Seconds per saved event (one event per save, as commands do)."""
    location = StoreLocation.parse(url)
    store = LedgerStore(location)
    if not chained:
        env = {**location.eventsourcing_env(), "APPLICATION_RECORDER_TOPIC": PLAIN[location.kind]}
        store.app.close()
        store.app = type(store.app)(env=env)
    stamp = Stamp(SystemClock().now(), Context(), store.keyring)
    account = Account.create(uuid4(), uuid4(), "bench@example.test", None, stamp)
    store.app.save(account)
    started = time.perf_counter()
    for i in range(events):
        account.grant_workspace(
            f"w{i % 50}", "member", Stamp(SystemClock().now(), Context(), store.keyring)
        )
        store.app.save(account)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", action="append", default=[])
    args = parser.parse_args()
    urls = args.db or [f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"]
    for url in urls:
        initialise_schema(StoreLocation.parse(url))
        for chained in (False, True):
            seconds = [run(url, args.events, chained) for _ in range(args.repeat)]
            median = statistics.median(seconds)
            label = "chained" if chained else "plain  "
            print(
                f"{StoreLocation.parse(url).kind:10} {label} {1 / median:8.0f} events/s "
                f"{median * 1e6:8.0f} µs/event (min {min(seconds) * 1e6:.0f}, "
                f"max {max(seconds) * 1e6:.0f})"
            )


if __name__ == "__main__":
    main()
