"""The ledger on a Patroni cluster: one multi-host URL follows the primary across a failover.

A 3-node PostgreSQL cluster (devtools.patroni_cluster: etcd, Patroni, synchronous and strict)
is started once for this module. The ledger is given all three nodes with
`target_session_attrs=read-write`; libpq connects to whichever is primary. After the primary is
killed (kill -9, postmaster and Patroni agent), the next command through the same URL lands on
the standby Patroni promoted, which holds everything acknowledged before; the old primary comes
back as a replica of it. Under load too (tests/failover_load.py): four client processes sign in
continuously while a projection worker follows, and the primary is killed among them; every
answered attempt is then in the store exactly once, no TOTP code was accepted twice, the chain
verifies and the worker's read models equal a rebuild. Stopping the cluster leaves no process
and no directory behind. Deselect with `-m "not cluster"`.

Events are counted as rows on each node: `info`'s count is the highest notification id, and a
promoted standby's sequence starts up to 32 past the old primary's (PostgreSQL logs sequences
ahead), so after a failover the ids have a gap.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest

from commands import api_keys, organisations, totp, users
from commands.services import Services
from devtools.patroni_cluster import (
    ClusterMissing,
    PatroniCluster,
    etcd_binary,
    patroni_binary,
    patroni_cluster,
)
from ledger.clock import SystemClock
from ledger.store import EVENT_TABLE, LedgerStore
from ledger.store_location import StoreLocation
from projections.catalogue import runner_for
from projections.forensics import Forensics
from tests import failover_load
from tests.conftest import Ledger, wait_for
from tests.integration.test_projections import read_models
from tests.integration.test_worker_failover import Worker

pytestmark = pytest.mark.cluster

EMAIL = "ada@acme.test"
PASSWORD = "s3cret-pass"
IP = "81.2.69.160"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PatroniCluster]:
    try:
        etcd_binary(), patroni_binary()
    except ClusterMissing as missing:
        pytest.skip(f"{missing}: scripts/bootstrap test installs both")
    with pytest.MonkeyPatch.context() as env:
        # The store's keys live in this module's own data directory.
        env.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("patroni") / "data"))
        env.delenv("FLERO_LEDGER_MASTER_KEY", raising=False)
        env.delenv("FLERO_LEDGER_DB", raising=False)
        started = time.monotonic()
        with patroni_cluster() as running:
            print(f"\ncluster up in {time.monotonic() - started:.1f}s: {running.describe()}")
            yield running
            pids = [running.etcd.pid if running.etcd else None]
            for node in running.nodes.values():
                pids += [node.patroni_pid, node.postmaster_pid]
    # Stopped: no process and no file left behind.
    assert not running.base.exists()
    assert not [pid for pid in pids if pid is not None and _running(pid)]


@pytest.fixture(scope="module")
def ledger(cluster: PatroniCluster) -> Ledger:
    """A ledger on the whole cluster, with ada in organisation acme."""
    ledger = Ledger(cluster.url)
    assert ledger.ok("init")["store"] == "postgresql"
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", EMAIL, "--org", "acme", "--password-stdin", stdin=f"{PASSWORD}\n")
    return ledger


def sign_in(ledger: Ledger, *options: str) -> dict[str, Any]:
    result = ledger.later(minutes=1).run(
        *options,
        *("login", EMAIL, "--method", "password", "--ip", IP, "--user-agent", BROWSER),
        *("--password-stdin", "--json"),
        stdin=f"{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def events_on(cluster: PatroniCluster, node: str) -> int:
    """What one node itself holds (a replica answers reads too)."""
    with psycopg.connect(cluster.node_url(node), connect_timeout=5) as conn:
        row = conn.execute(f"SELECT count(*) FROM {EVENT_TABLE}").fetchone()
        return int(row[0]) if row else 0


def in_recovery(cluster: PatroniCluster, node: str) -> bool:
    with psycopg.connect(cluster.node_url(node), connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])


def test_the_multi_host_url_reaches_the_primary_and_a_standby_holds_each_commit(
    cluster: PatroniCluster, ledger: Ledger
) -> None:
    primary = cluster.primary()
    assert primary is not None and not in_recovery(cluster, primary)
    before = events_on(cluster, primary)
    assert sign_in(ledger)["outcome"] == "success"
    written = events_on(cluster, primary)
    assert written > before
    with psycopg.connect(cluster.node_url(primary, "postgres")) as conn:
        sync = conn.execute(
            "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'"
        ).fetchall()
    assert len(sync) == 1
    # Strict synchronous mode: acknowledged means the synchronous standby has it (flushed;
    # visible a moment later, once replayed).
    wait_for(lambda: events_on(cluster, sync[0][0]) == written)


def test_after_the_primary_is_killed_the_same_url_writes_to_the_promoted_standby(
    cluster: PatroniCluster, ledger: Ledger
) -> None:
    assert sign_in(ledger)["outcome"] == "success"
    primary = cluster.primary()
    assert primary is not None
    acknowledged = events_on(cluster, primary)

    killed_at = time.monotonic()
    old = cluster.kill_primary()
    new = cluster.wait_for_primary(60, other_than=old)
    promoted_in = time.monotonic() - killed_at
    assert events_on(cluster, new) == acknowledged  # nothing acknowledged was lost
    assert sign_in(ledger)["outcome"] == "success"  # the same URL: libpq finds the new primary
    first_write_in = time.monotonic() - killed_at
    print(
        f"\nfailover {old} -> {new}: promoted in {promoted_in:.1f}s, the ledger's next sign-in "
        f"done {first_write_in:.1f}s after the kill"
    )
    on_new = events_on(cluster, new)
    assert on_new > acknowledged  # the command landed on the new primary
    assert not in_recovery(cluster, new)

    cluster.restart_node(old)
    cluster.wait_for_replica_rejoined(old, 120)
    assert in_recovery(cluster, old)
    wait_for(lambda: events_on(cluster, old) == on_new)


def test_a_planned_switchover_is_followed_too(cluster: PatroniCluster, ledger: Ledger) -> None:
    before = cluster.primary()
    after = cluster.switchover()
    assert after != before
    written = events_on(cluster, after)
    assert sign_in(ledger)["outcome"] == "success"
    assert events_on(cluster, after) > written


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


# ---- queries on a replica -----------------------------------------------------------------


def test_queries_read_a_replica_and_wait_for_it_to_have_a_commands_writes(
    cluster: PatroniCluster, ledger: Ledger
) -> None:
    replica = cluster.node_url(sorted(cluster.replicas())[0])
    first = sign_in(ledger, "--read-db", replica)["position"]
    ledger.ok("projections", "run")  # the worker's part: the replica gets the read models
    wait_for(lambda: replica_position(replica) >= first)
    known = len(sessions(ledger, replica))

    # No worker runs now: the replica stays behind.
    second = sign_in(ledger, "--read-db", replica)["position"]
    assert len(sessions(ledger, replica)) == known  # read there, as it is
    assert len(sessions(ledger, replica, after=second)) == known + 1  # not there: the primary
    wait_for(lambda: replica_position(replica) >= second)  # the primary caught up, replicated
    assert len(sessions(ledger, replica, after=second)) == known + 1  # there now


def replica_position(replica: str) -> int:
    """How far the replica's read models have read the log."""
    with psycopg.connect(replica, connect_timeout=5) as conn:
        row = conn.execute("SELECT min(position) FROM projection_tracking").fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def sessions(ledger: Ledger, replica: str, after: int | None = None) -> list[Any]:
    wait = ["--after", str(after)] if after is not None else []
    listed: list[Any] = ledger.ok("--read-db", replica, *wait, "sessions", "list", EMAIL)
    return listed


# ---- the primary killed under load ---------------------------------------------------------

CLIENTS = 4
LOAD_BEFORE_THE_KILL = 8.0  # seconds
LOAD_ON_THE_NEW_PRIMARY = 8.0  # at least; and into a new 30-second TOTP step
LOGIN_EVENTS = {"LoginSucceeded": "success", "LoginFailed": "failed"}


def test_the_primary_killed_under_load_loses_no_acknowledged_attempt_and_doubles_none(
    cluster: PatroniCluster, ledger: Ledger, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    clients = enrol_load_clients(cluster.url, stop)
    worker = Worker(cluster.url)
    try:
        assert worker.next_state() == "active"
        with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
            running = pool.map_async(failover_load.run, clients)
            time.sleep(LOAD_BEFORE_THE_KILL)
            old = cluster.kill_primary()
            killed_at = time.monotonic()
            new = cluster.wait_for_primary(90, other_than=old)
            time.sleep(until_a_new_totp_step_is_well_under_way())
            stop.touch()
            attempts = [each for run in running.get(timeout=180) for each in run]
        answered = [a for a in attempts if a.answer != "error"]
        resumed = [a.at for a in answered if a.started > killed_at]
        assert resumed, "no attempt was answered after the kill"
        answers = sorted(a.at for a in answered)
        outage = max(later - earlier for earlier, later in itertools.pairwise(answers))
        print(
            f"\nfailover {old} -> {new} under load: the first sign-in sent after the kill was "
            f"answered {min(resumed) - killed_at:.1f}s after it; the longest time without any "
            f"answer {outage:.1f}s; {len(attempts)} attempts, "
            f"{len(attempts) - len(answered)} of them answered with an error"
        )
        store = LedgerStore(StoreLocation.parse(cluster.url))
        recorded = login_events_by_user_agent(store)
        # Every answered attempt is in the store exactly once, as it was answered; none twice.
        for attempt in attempts:
            found = recorded.get(attempt.user_agent, [])
            if attempt.answer == "error":
                assert len(found) <= 1, attempt
            else:
                assert [outcome for outcome, _ in found] == [attempt.answer], attempt
        assert set(recorded) <= {a.user_agent for a in attempts}
        # No TOTP code was accepted twice.
        for client in clients:
            steps = [
                step
                for attempt in attempts
                if attempt.email == client.totp_email
                for outcome, step in recorded.get(attempt.user_agent, [])
                if outcome == "success"
            ]
            assert steps and len(steps) == len(set(steps)), client.totp_email
        # The chain and the checkpoints are intact on the new primary.
        assert ledger.ok("verify", "--store")["ok"] is True
        # The worker carried on on the new primary: its read models are what a rebuild gives.
        wait_for(lambda: not runner_for(store).behind(), timeout=60)
        worker.stop()
        followed = read_models(store)
        runner_for(store).rebuild()
        assert read_models(store) == followed
        store.close()
    finally:
        worker.stop()
    cluster.restart_node(old)
    cluster.wait_for_replica_rejoined(old, 240)
    assert in_recovery(cluster, old)


def until_a_new_totp_step_is_well_under_way() -> float:
    """Seconds to go on loading the new primary: at least LOAD_ON_THE_NEW_PRIMARY, and until
    a TOTP step has begun since (each client's code of that step is accepted once)."""
    now = time.time()
    next_step = (now // 30 + 1) * 30
    return max(LOAD_ON_THE_NEW_PRIMARY, next_step + 5 - now)


def enrol_load_clients(url: str, stop: Path) -> list[failover_load.LoadClient]:
    """Each client's two accounts, in an organisation of their own, on the live clock."""
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=SystemClock())
    organisations.create_organisation(services, organisations.CreateOrganisation(slug="load"))
    clients = []
    for number in range(CLIENTS):
        key_email, totp_email = f"ci{number}@load.test", f"person{number}@load.test"
        users.create_user(services, users.CreateUser(email=key_email, org="load"))
        key = api_keys.create_api_key(services, api_keys.CreateApiKey(email=key_email, name="ci"))
        users.create_user(
            services, users.CreateUser(email=totp_email, org="load", password=PASSWORD)
        )
        secret = totp.enrol_totp(services, totp.EnrolTotp(email=totp_email)).secret
        code = pyotp.TOTP(secret).now()
        totp.confirm_totp(services, totp.ConfirmTotp(email=totp_email, code=code))
        clients.append(
            failover_load.LoadClient(
                number, url, str(stop), key_email, key.secret, totp_email, PASSWORD, secret
            )
        )
    store.close()
    return clients


def login_events_by_user_agent(store: LedgerStore) -> dict[str, list[tuple[str, int | None]]]:
    """Every recorded sign-in attempt of the load's accounts: outcome and TOTP step, by the
    user agent naming the attempt."""
    forensics = Forensics(store)
    found: dict[str, list[tuple[str, int | None]]] = {}
    start = 1
    while batch := store.app.recorder.select_notifications(start=start, limit=1000):
        for notification in batch:
            kind = notification.topic.rsplit(".", 1)[-1]
            if kind in LOGIN_EVENTS:
                event = store.app.mapper.to_domain_event(notification)
                agent = forensics.open(event.user_agent) or ""
                if agent.startswith("failover-test/"):
                    step = getattr(event, "totp_step", None)
                    found.setdefault(agent, []).append((LOGIN_EVENTS[kind], step))
        start = batch[-1].id + 1
    return found
