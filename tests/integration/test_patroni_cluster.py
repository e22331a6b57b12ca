"""The ledger on a Patroni cluster: one multi-host URL follows the primary across a failover.

A 3-node PostgreSQL cluster (devtools.patroni_cluster: etcd, Patroni, synchronous and strict)
is started once for this module. The ledger is given all three nodes with
`target_session_attrs=read-write`; libpq connects to whichever is primary. After the primary is
killed (kill -9, postmaster and Patroni agent), the next command through the same URL lands on
the standby Patroni promoted, which holds everything acknowledged before; the old primary comes
back as a replica of it. Stopping the cluster leaves no process and no directory behind.
Deselect with `-m "not cluster"`.

Events are counted as rows on each node: `info`'s count is the highest notification id, and a
promoted standby's sequence starts up to 32 past the old primary's (PostgreSQL logs sequences
ahead), so after a failover the ids have a gap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.patroni_cluster import (
    ClusterMissing,
    PatroniCluster,
    etcd_binary,
    patroni_binary,
    patroni_cluster,
)
from ledger.store import EVENT_TABLE
from tests.conftest import Ledger, wait_for

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


def sign_in(ledger: Ledger) -> dict[str, Any]:
    result = ledger.later(minutes=1).run(
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
