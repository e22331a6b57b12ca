"""Profiles of the two scenarios that miss their targets: where a sign-in and a rebuild spend time.

    python -m benchmarks.profile [--out docs/profiles]

Uses the same PostgreSQL as `benchmarks.run` (a throwaway cluster, or FLERO_LEDGER_BENCH_DSN)
and writes pyinstrument call trees as text, one file per scenario.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pyinstrument import Profiler

from benchmarks import scenarios
from benchmarks.run import REPO, postgres
from ledger.store import initialise_schema
from ledger.store_location import StoreLocation


def profiled(out: Path, name: str, work: Callable[[], object]) -> None:
    profiler = Profiler(interval=0.0005)
    profiler.start()
    work()
    profiler.stop()
    (out / f"{name}.txt").write_text(profiler.output_text(unicode=False))
    print(f"{name}: {profiler.last_session.duration if profiler.last_session else 0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "profiles")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with postgres() as server:
        url = server.url(server.fresh_database("bench_profile"))
        initialise_schema(StoreLocation.parse(url))
        cast = scenarios.prepare_sign_ins(url, 50, "profiled")
        scenarios.sign_in_rounds(cast, 1, 1)  # warm: imports, connections, cached aggregates
        profiled(args.out, "login", lambda: scenarios.sign_in_rounds(cast, 2, 6))
        scenarios.build_long_history(url, 20_000)
        profiled(args.out, "rebuild", lambda: scenarios.rebuild_all(url))


if __name__ == "__main__":
    main()
