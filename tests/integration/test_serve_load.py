"""Eight clients sign in at once through `flero-ledger serve`, all on one account and each on
its own, for a bounded count and time. Every request is answered, 2xx or 4xx (never a 5xx or a
dropped connection), and afterwards each account's login history holds exactly what its clients
were told, attempt for attempt: none lost to a concurrent change, none recorded twice.

The server is the real one, a subprocess on a free loopback port, trusting loopback as its
proxy: each client signs in from an address of its own (X-Forwarded-For), so that its wrong
keys stay far below the per-source throttle and every recorded attempt can be traced to the
client that was told about it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from ledger.store_location import StoreLocation
from tests.conftest import Ledger, wait_for

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
CLIENTS = 8
REQUESTS = 60  # per client, at most
SECONDS = 6.0  # per client, at most: whichever bound comes first
WRONG_EVERY = 6  # a client's every sixth attempt brings a wrong key (at most 10: no lockout)
UA = "load-test/1.0 (+https://ci.example)"
WORKERS = 2


@dataclass(frozen=True)
class Answer:
    """What one request was told: `status` 0 when there was no answer at all."""

    email: str
    ip: str
    status: int
    outcome: str  # "success", the reason refused, or what went wrong
    session_id: str | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(url: str, log: Path) -> Iterator[str]:
    """The server's base URL, once it listens; stopped (SIGTERM) afterwards."""
    port = free_port()
    command = [sys.executable, str(REPO / "cli.py"), "--db", url, "serve", "--port", str(port)]
    command += ["--workers", str(WORKERS)]
    with log.open("w") as output:  # a file, never a pipe nobody reads: a full one stalls it
        server = subprocess.Popen(
            [*command, "--forwarded-allow-ips", LOOPBACK],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
        try:
            wait_for(lambda: listening(server, port, log), timeout=30)
            yield f"http://{LOOPBACK}:{port}"
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def connections_to(url: str) -> int:
    """How many connections PostgreSQL has open to the store's database, this one aside."""
    location = StoreLocation.parse(url)
    with psycopg.connect(location.pg_conninfo()) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [location.pg_dbname],
        ).fetchone()
    assert row is not None
    return int(row[0])


def listening(server: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"serve exited ({server.returncode}):\n{log.read_text()}")
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except OSError:
        return False
    return True


def sign_in_repeatedly(
    base: str, email: str, key: str, worker: int, start: threading.Barrier
) -> list[Answer]:
    """One client: sign-ins one after the other until either bound is reached."""
    ip = f"198.51.100.{worker + 1}"
    headers = {"X-Forwarded-For": ip, "User-Agent": UA}
    answers = []
    with httpx.Client(base_url=base, headers=headers, timeout=30, trust_env=False) as client:
        start.wait()
        deadline = time.monotonic() + SECONDS
        for n in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            wrong = (n + worker) % WRONG_EVERY == WRONG_EVERY - 1
            body = {"email": email, "method": "api_key", "api_key": "flk.x.wrong" if wrong else key}
            try:
                reply = client.post("/api/login", json=body)
            except httpx.HTTPError as error:
                answers.append(Answer(email, ip, 0, repr(error)))
                continue
            if reply.status_code >= 500:
                answers.append(Answer(email, ip, reply.status_code, reply.text[:300]))
            elif reply.status_code == 200:
                session = reply.json()["session_id"]
                answers.append(Answer(email, ip, 200, "success", session))
            else:
                refusal = reply.json()
                reason = refusal.get("reason") or refusal["error"]["code"]
                answers.append(Answer(email, ip, reply.status_code, reason))
    return answers


@pytest.mark.parametrize("accounts", [1, CLIENTS], ids=["one-account", "eight-accounts"])
def test_eight_clients_signing_in_through_serve_are_all_answered_and_all_recorded_once(
    ledger: Ledger, backend: str, accounts: int, tmp_path: Path
) -> None:
    ledger.at(datetime.now(UTC))  # the server runs on the live clock
    ledger.ok("org", "create", "acme")
    emails = [f"load{n}@acme.test" for n in range(accounts)]
    keys = {}
    for email in emails:
        ledger.ok("user", "create", email, "--org", "acme")
        keys[email] = ledger.ok("api-keys", "create", email, "--name", "load")["key"]
    log = tmp_path / "serve.log"
    with serving(ledger.url, log) as base, ThreadPoolExecutor(CLIENTS) as pool:
        start = threading.Barrier(CLIENTS)
        began = time.monotonic()
        clients = [
            pool.submit(sign_in_repeatedly, base, email, keys[email], worker, start)
            for worker in range(CLIENTS)
            for email in [emails[worker % accounts]]
        ]
        answers = [answer for client in clients for answer in client.result()]
        seconds = time.monotonic() - began
        if backend == "postgresql":  # each handler thread holds its store's connections still
            held = connections_to(ledger.url)
            print(f"\n[{backend}] the server holds {held} connections to the store")
            assert held <= 2 * CLIENTS * WORKERS, f"the server holds {held} connections"
    statuses = Counter(answer.status for answer in answers)
    print(
        f"\n[{backend}, {accounts} account(s)] {len(answers)} sign-ins by {CLIENTS} clients in "
        f"{seconds:.1f} s ({len(answers) / seconds:.0f}/s): {dict(sorted(statuses.items()))}"
    )

    unanswered = [a for a in answers if not (200 <= a.status < 300 or 400 <= a.status < 500)]
    assert unanswered == [], f"{unanswered[:3]}\nserver log:\n{log.read_text()[-3000:]}"
    told = Counter(answer.outcome for answer in answers)
    assert told["success"] and told["invalid_api_key"], told
    assert not told.keys() & {"clock_behind", "concurrent_change"}, "a race reached a client"
    sessions = [answer.session_id for answer in answers if answer.session_id]
    assert len(set(sessions)) == len(sessions), "a session was opened twice"

    ledger.ok("projections", "run")  # on PostgreSQL, a worker's job: the read models catch up
    ledger.at(datetime.now(UTC))
    for email in emails:
        recorded = Counter(
            (row["ip"], "success" if row["outcome"] == "success" else row["reason"])
            for row in ledger.ok("history", email)
        )
        assert recorded == Counter((a.ip, a.outcome) for a in answers if a.email == email)
    assert ledger.ok("verify", "--store")["ok"] is True
