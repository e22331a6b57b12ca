"""Does a sign-in cost more as the account's history grows? Measured through `serve`, by hand.

    python -m benchmarks.serve_growth [--stores pg,sqlite] [--marks 300,1000,3000,5000,10000]
                                      [--probes 20] [--budget 900]

Re-measures issue 12's table: one account signs in with an API key through `POST /api/login`,
sequentially, on a server started with `flero-ledger --db URL serve` (a throwaway PostgreSQL
cluster with default durability, or FLERO_LEDGER_BENCH_DSN; and an SQLite file). When the
account has signed in `mark` times, the next `--probes` sign-ins are timed and their median
printed. After the burst, `GET /api/sessions` (the bearer token of the last sign-in): the first
request (on PostgreSQL it brings the read models up to the burst first) and the median of the
next ones. A store that has spent `--budget` seconds signing in stops before its next mark.
Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.run import REPO, postgres
from commands import api_keys, organisations, users
from commands.services import Services
from ledger.clock import SystemClock
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation

EMAIL = "ci@growth.test"
USER_AGENT = "ci-runner/2.4 (linux; x86_64)"


@dataclass
class Growth:
    store: str
    marks: dict[int, float] = field(default_factory=dict)  # sign-ins so far -> median ms
    sign_ins: int = 0
    burst_seconds: float = 0.0
    sessions_first_ms: float | None = None
    sessions_ms: float | None = None
    sessions_listed: int = 0


def prepare(url: str) -> str:
    """The schema, an organisation, its member and an API key (the key is returned)."""
    location = StoreLocation.parse(url)
    initialise_schema(location)
    store = LedgerStore(location)
    services = Services(store=store, clock=SystemClock())
    organisations.create_organisation(services, organisations.CreateOrganisation(slug="growth"))
    users.create_user(services, users.CreateUser(email=EMAIL, org="growth"))
    key = api_keys.create_api_key(services, api_keys.CreateApiKey(email=EMAIL, name="ci")).secret
    store.close()
    return key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(url: str, log: Path, workers: int = 1) -> Iterator[httpx.Client]:
    """`flero-ledger --db URL serve --workers N` on a free local port, until the block ends."""
    port = free_port()
    command = ["--db", url, "serve", "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FLERO_LEDGER_DB", None)
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, str(REPO / "cli.py"), *command],
            env=env,
            stdout=output,
            stderr=output,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                _wait_until_up(client, server)
                yield client
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before listening")
        try:
            client.get("/docs")
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer within 60 s")


def sign_in(client: httpx.Client, key: str) -> tuple[float, str]:
    """Seconds for one `POST /api/login` with the API key, and the session token it gave."""
    body = {"email": EMAIL, "method": "api_key", "api_key": key}
    started = time.perf_counter()
    answer = client.post("/api/login", json=body, headers={"User-Agent": USER_AGENT})
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, str(answer.json()["session_token"])


def list_sessions(client: httpx.Client, token: str) -> tuple[float, int]:
    """Seconds for one `GET /api/sessions`, and how many sessions it listed."""
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    started = time.perf_counter()
    answer = client.get("/api/sessions", headers=headers)
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, len(answer.json())


def measure(store: str, url: str, marks: list[int], probes: int, budget: float) -> Growth:
    key = prepare(url)
    growth = Growth(store)
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(url, Path(tmp) / "serve.log") as client,
    ):
        started = time.monotonic()
        deadline = started + budget
        token = ""
        for mark in marks:
            while growth.sign_ins < mark and time.monotonic() < deadline:
                _, token = sign_in(client, key)
                growth.sign_ins += 1
            if growth.sign_ins < mark:
                print(f"  {store}: {budget:.0f} s budget spent before {mark:,}", flush=True)
                break
            timed = []
            for _ in range(probes):
                elapsed, token = sign_in(client, key)
                growth.sign_ins += 1
                timed.append(elapsed)
            growth.marks[mark] = statistics.median(timed) * 1000
            print(
                f"  {store:6} {mark:>7,} sign-ins so far: {growth.marks[mark]:7.1f} ms", flush=True
            )
        growth.burst_seconds = time.monotonic() - started
        first, growth.sessions_listed = list_sessions(client, token)
        growth.sessions_first_ms = first * 1000
        growth.sessions_ms = statistics.median(
            list_sessions(client, token)[0] * 1000 for _ in range(probes)
        )
    return growth


def report(results: list[Growth]) -> None:
    marks = sorted({mark for growth in results for mark in growth.marks})
    stores = [growth.store for growth in results]
    print(f"\n{'sign-ins so far on the account':32}" + "".join(f"{s:>14}" for s in stores))
    for mark in marks:
        cells = [growth.marks.get(mark) for growth in results]
        shown = "".join(f"{c:11.1f} ms" if c is not None else f"{'-':>14}" for c in cells)
        print(f"{mark:<32,}{shown}")
    for growth in results:
        print(
            f"\n{growth.store}: {growth.sign_ins:,} sign-ins in {growth.burst_seconds:.0f} s "
            f"({growth.sign_ins / growth.burst_seconds:.0f}/s). GET /api/sessions after the "
            f"burst: first {growth.sessions_first_ms:.1f} ms (read models catching up), then "
            f"{growth.sessions_ms:.1f} ms median; {growth.sessions_listed} sessions listed."
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", default="pg,sqlite", help="pg, sqlite or both.")
    parser.add_argument("--marks", default="300,1000,3000,5000,10000")
    parser.add_argument("--probes", type=int, default=20, help="Sign-ins timed at each mark.")
    parser.add_argument("--budget", type=float, default=900, help="Seconds per store, at most.")
    args = parser.parse_args()
    marks = sorted(int(mark) for mark in args.marks.split(","))
    stores = args.stores.split(",")
    results = []
    if "pg" in stores:
        with postgres() as server:
            url = server.url(server.fresh_database("bench_serve_growth"))
            results.append(measure("pg", url, marks, args.probes, args.budget))
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'growth.sqlite3'}"
            results.append(measure("sqlite", url, marks, args.probes, args.budget))
    report(results)


if __name__ == "__main__":
    main()
