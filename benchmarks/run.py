"""The benchmark suite: every scenario in one run, beside its baselines, on PostgreSQL and SQLite.

    python -m benchmarks.run [--quick] [--out benchmarks/figures.json]

Starts a throwaway PostgreSQL cluster with default durability (or uses FLERO_LEDGER_BENCH_DSN,
a database it may create databases in). Each figure is the median of --repeat runs, with
min-max, and is printed as a ratio to the baselines measured in the same run:
  A  raw psycopg single-row autocommit INSERT of rows shaped like the ledger's events
  B  the plain eventsourcing application saving one comparable event per save()
  C  binary COPY of the same rows (the bulk limit)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import million, password_sign_ins, scenarios
from devtools.patroni_cluster import ClusterMissing, etcd_binary, patroni_binary, patroni_cluster
from devtools.postgres_cluster import PgServer, throwaway_cluster
from ledger.store import initialise_schema
from ledger.store_location import StoreLocation

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    name: str
    unit: str
    runs: list[float]
    higher_is_better: bool = True
    baselines: dict[str, float] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


@dataclass(frozen=True)
class Target:
    figure: str
    description: str
    check: Callable[[dict[str, Figure]], float | None]  # the measured value, or None
    limit: float
    higher_is_better: bool


def measure(repeat: int, once: Callable[[], float]) -> list[float]:
    return [once() for _ in range(repeat)]


@contextmanager
def postgres() -> Iterator[PgServer]:
    dsn = os.environ.get("FLERO_LEDGER_BENCH_DSN")
    if dsn:
        loc = StoreLocation.parse(dsn)
        yield PgServer(loc.pg_host, int(loc.pg_port), loc.pg_user, loc.pg_password)
        return
    with throwaway_cluster(durable=True) as server:
        yield server


def cli_seconds(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return time.perf_counter() - started


def measure_logins_in_processes(
    url: str, size: scenarios.Sizes, repeat: int, add: scenarios.Add, prefix: str
) -> None:
    for clients in (1, 8):
        add(
            f"{prefix}.login_{clients}_processes",
            "logins/s",
            measure(
                repeat,
                functools.partial(scenarios.concurrent_logins, url, clients, size.concurrent),
            ),
            True,
        )


def measure_patroni_cluster(size: scenarios.Sizes, repeat: int, add: scenarios.Add) -> None:
    """The same sign-ins on a 3-node Patroni cluster with strict synchronous replication (each
    commit waits for a standby's flush), beside the single node's figures."""
    try:
        etcd_binary(), patroni_binary()
    except ClusterMissing as missing:
        print(f"Patroni cluster skipped: {missing} (scripts/bootstrap test installs it)")
        return
    with patroni_cluster(durable=True) as cluster:
        print("Patroni cluster (3 nodes, synchronous_mode_strict)", flush=True)
        initialise_schema(StoreLocation.parse(cluster.url))
        measure_logins_in_processes(cluster.url, size, repeat, add, prefix="cluster")


def run_all(quick: bool, repeat: int) -> dict[str, Figure]:
    size = scenarios.Sizes.quick() if quick else scenarios.Sizes.full()
    figures: dict[str, Figure] = {}

    def add(name: str, unit: str, runs: list[float], higher: bool = True) -> None:
        figures[name] = Figure(name, unit, runs, higher)
        print(f"  {name:42} {statistics.median(runs):12.1f} {unit}", flush=True)

    with postgres() as server:
        pg = scenarios.PostgresBench(server)
        print("PostgreSQL", flush=True)
        add("pg.baseline_a_insert", "rows/s", measure(repeat, lambda: pg.raw_inserts(size.rows)))
        add("pg.baseline_c_copy", "rows/s", measure(repeat, lambda: pg.binary_copy(size.rows * 10)))
        add(
            "pg.baseline_b_library",
            "events/s",
            measure(repeat, lambda: pg.library_saves(size.rows)),
        )
        url = server.url(server.fresh_database("bench_ledger"))
        scenarios.run_ledger_scenarios(url, size, repeat, add, prefix="pg")
        measure_logins_in_processes(url, size, repeat, add, prefix="pg")
        add(
            "pg.baseline_a_insert_8_processes",
            "rows/s",
            measure(repeat, lambda: pg.raw_inserts_in_processes(size.rows * 2, 8)),
        )
        scenarios.run_ci_scenarios(url, size, repeat, add, prefix="pg")
        url = server.url(server.fresh_database("bench_passwords"))
        runs = [password_sign_ins.measure(url, size.password_accounts) for _ in range(repeat)]
        add("pg.password_sign_ins_old_params", "sign-ins/s/core", [old for old, _ in runs])
        add("pg.password_sign_ins_new_params", "sign-ins/s/core", [new for _, new in runs])
        add("pg.password_new_vs_old", "x", [new / old for old, new in runs])
        print("Through serve --workers 2 (PostgreSQL, wrk)", flush=True)
        measure_serve(server.url(server.fresh_database("bench_serve")), size, repeat, add)
        million_url = server.url(server.fresh_database("bench_million"))
        million.run_million_scenario(million_url, size.million, add)
    if not quick:  # a cluster's start and stop would double a smoke run
        measure_patroni_cluster(size, repeat, add)
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite", flush=True)
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        scenarios.run_ledger_scenarios(url, size, repeat, add, prefix="sqlite")
        scenarios.run_ci_scenarios(url, size, repeat, add, prefix="sqlite")
        print("Command line", flush=True)
        add("cli.help", "ms", measure(repeat, lambda: cli_seconds("--help") * 1000), False)
        add(
            "cli.read_sqlite",
            "ms",
            measure(repeat, lambda: cli_seconds("--db", url, "info", "--json") * 1000),
            False,
        )
    for name, figure in figures.items():
        if name.startswith("pg.") and figure.unit in ("logins/s", "events/s"):
            figure.baselines = {
                "A": figure.median / figures["pg.baseline_a_insert"].median,
                "B": figure.median / figures["pg.baseline_b_library"].median,
                "C": figure.median / figures["pg.baseline_c_copy"].median,
            }
    return figures


def measure_serve(url: str, size: scenarios.Sizes, repeat: int, add: scenarios.Add) -> None:
    """The `serve.*` figures; none, said so, where wrk is not installed."""
    from benchmarks import serve_load  # it imports this module's postgres(): not at the top

    if not serve_load.wrk_installed():
        print(f"  skipped: {serve_load.WRK_MISSING}", flush=True)
        return
    result = serve_load.measure(url, size.serve_seconds, repeat)
    for name, loads in result.loads().items():
        add(f"serve.{name}_rps", "req/s", [load.per_second for load in loads], True)
        add(f"serve.{name}_p99", "ms", [load.p99_ms for load in loads], False)
        add(f"serve.{name}_non_2xx", "answers", [float(load.non_2xx) for load in loads], False)
    add("serve.api_mfa_vs_static", "x", [result.ratio], True)


def ratio(figures: dict[str, Figure], name: str, baseline: str) -> float:
    return figures[name].baselines[baseline]


def median_of(name: str) -> Callable[[dict[str, Figure]], float]:
    return lambda figures: figures[name].median


def median_if_measured(name: str) -> Callable[[dict[str, Figure]], float | None]:
    return lambda figures: figures[name].median if name in figures else None


TARGETS = [
    Target(
        "pg.login_1_client",
        "login throughput vs B (>= 3x)",
        lambda f: ratio(f, "pg.login_1_client", "B"),
        3.0,
        True,
    ),
    Target(
        "pg.login_1_client",
        "login throughput vs A (>= 0.5x)",
        lambda f: ratio(f, "pg.login_1_client", "A"),
        0.5,
        True,
    ),
    Target(
        "pg.login_8_processes",
        "8 client processes vs 1 (>= 2x)",
        lambda f: f["pg.login_8_processes"].median / f["pg.login_1_processes"].median,
        2.0,
        True,
    ),
    Target(
        "pg.login_p50",
        "login latency p50 (<= 2 ms)",
        lambda f: f["pg.login_p50"].median,
        2.0,
        False,
    ),
    Target(
        "pg.login_p99",
        "login latency p99 (<= 8 ms)",
        lambda f: f["pg.login_p99"].median,
        8.0,
        False,
    ),
    Target(
        "pg.projection_rebuild",
        "projection rebuild (>= 25,000 events/s)",
        lambda f: f["pg.projection_rebuild"].median,
        25_000,
        True,
    ),
    Target(
        "pg.projection_rss",
        "rebuild peak RSS (< 300 MB)",
        lambda f: f["pg.projection_rss"].median,
        300,
        False,
    ),
    Target(
        "pg.million_rebuild",
        "1,000,000 events: rebuild (>= 25,000 events/s)",
        median_of("pg.million_rebuild"),
        25_000,
        True,
    ),
    Target(
        "pg.million_rss",
        "1,000,000 events: rebuild peak RSS (< 300 MB)",
        median_of("pg.million_rss"),
        300,
        False,
    ),
    Target(
        "pg.million_verify",
        "1,000,000 events: verify --store (>= 100,000 events/s)",
        median_of("pg.million_verify"),
        100_000,
        True,
    ),
    Target(
        "pg.state_as_of_p50",
        "state --as-of, long history, p50 (<= 20 ms)",
        lambda f: f["pg.state_as_of_p50"].median,
        20,
        False,
    ),
    Target(
        "pg.history_p50",
        "history, long history, p50 (<= 5 ms)",
        lambda f: f["pg.history_p50"].median,
        5,
        False,
    ),
    Target(
        "pg.verify_store",
        "verify --store (>= 100,000 events/s)",
        lambda f: f["pg.verify_store"].median,
        100_000,
        True,
    ),
    *(
        Target(
            f"{store}.signin_long_vs_fresh",
            f"{store}: sign-in, 50k API-key sign-ins vs fresh (<= 1.5x)",
            median_of(f"{store}.signin_long_vs_fresh"),
            1.5,
            False,
        )
        for store in ("pg", "sqlite")
    ),
    *(
        Target(
            f"{store}.sessions_list_p50",
            f"{store}: sessions list, 50k sign-ins, p50 (<= 20 ms)",
            median_of(f"{store}.sessions_list_p50"),
            20,
            False,
        )
        for store in ("pg", "sqlite")
    ),
    Target(
        "serve.api_mfa_vs_static",
        "serve --workers 2: GET /api/mfa vs a static file (>= 0.6x)",
        median_if_measured("serve.api_mfa_vs_static"),
        0.6,
        True,
    ),
    Target(
        "cli.help", "flero-ledger --help (< 250 ms)", lambda f: f["cli.help"].median, 250, False
    ),
    Target(
        "cli.read_sqlite",
        "a read command on SQLite (< 400 ms)",
        lambda f: f["cli.read_sqlite"].median,
        400,
        False,
    ),
]


def report(figures: dict[str, Figure]) -> list[dict[str, object]]:
    print(f"\n{'figure':34} {'median':>12} {'min-max':>23}  ratios to A / B / C")
    for figure in figures.values():
        ratios = " / ".join(f"{figure.baselines[b]:.2f}" for b in "ABC") if figure.baselines else ""
        spread = f"{min(figure.runs):.1f}-{max(figure.runs):.1f}"
        print(f"{figure.name:34} {figure.median:12.1f} {spread:>23}  {ratios} ({figure.unit})")
    print(f"\n{'target':58} {'measured':>12} {'limit':>10}  result")
    results: list[dict[str, object]] = []
    for target in TARGETS:
        value = target.check(figures)
        passed = value is not None and (
            value >= target.limit if target.higher_is_better else value <= target.limit
        )
        results.append(
            {
                "target": target.description,
                "measured": value,
                "limit": target.limit,
                "passed": passed,
            }
        )
        shown = "n/a" if value is None else f"{value:.2f}"
        print(
            f"{target.description:58} {shown:>12} {target.limit:>10}  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: a smoke run.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "figures.json")
    args = parser.parse_args()
    started = time.perf_counter()
    figures = run_all(args.quick, 1 if args.quick else args.repeat)
    results = report(figures)
    args.out.write_text(
        json.dumps(
            {
                "figures": {k: asdict(v) | {"median": v.median} for k, v in figures.items()},
                "targets": results,
                "seconds": time.perf_counter() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nFigures written to {args.out} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
