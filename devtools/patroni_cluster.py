"""A throwaway 3-node PostgreSQL cluster under Patroni, with one etcd as its configuration store.

Everything runs on this machine, on free 127.0.0.1 ports, in one temporary directory that is
removed afterwards. Replication is synchronous and strict (`synchronous_mode_strict`): a commit
is acknowledged only once a standby has it, so a standby promoted after the primary dies holds
every acknowledged write. Timeouts are tuned low so a failover takes seconds, not half a minute.

As root, Patroni and PostgreSQL run as the `postgres` OS user (PostgreSQL refuses root).

    with patroni_cluster() as cluster:
        cluster.url                      # multi-host, target_session_attrs=read-write
        cluster.kill_primary()           # kill -9 the primary's postmaster and its Patroni
        cluster.wait_for_primary(30)

By hand: `python -m devtools.patroni_cluster` prints the URL; Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from devtools.postgres_cluster import PostgresMissing, pg_binary

SCOPE = "flero"
USER = "postgres"
PASSWORD = "flero-patroni"  # noqa: S105 - a throwaway cluster on 127.0.0.1
DBNAME = "flero"
NODES = ("pg1", "pg2", "pg3")
PRIMARY_ROLES = ("master", "primary")  # Patroni 3.0's word, and later versions'

# Failover within seconds: the leader key lives `ttl` seconds unless renewed every `loop_wait`;
# Patroni requires loop_wait + 2 * retry_timeout <= ttl.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4


class ClusterMissing(Exception):
    """etcd, Patroni or PostgreSQL is not installed here."""


class ClusterTimeout(Exception):
    pass


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)
    if not found:
        raise ClusterMissing("etcd is not installed (apt-get install etcd-server)")
    return found


def patroni_binary() -> str:
    found = shutil.which("patroni")
    if not found:
        raise ClusterMissing("Patroni is not installed (apt-get install patroni)")
    return found


def _pg_bin_dir() -> str:
    """The directory of all PostgreSQL's programs (Patroni runs pg_controldata, pg_rewind, ...):
    where initdb really is, not a directory holding a link to it."""
    try:
        return str(Path(pg_binary("initdb")).resolve().parent)
    except PostgresMissing as missing:
        raise ClusterMissing(str(missing)) from None


def _free_ports(count: int) -> list[int]:
    """Ports the kernel has just handed out, released again for the servers to take."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_as_postgres() -> dict[str, Any]:
    """Popen arguments that drop root to `postgres` (the pid stays the program's own)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead too.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int | None) -> None:
    if pid:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class PatroniNode:
    name: str
    pg_port: int
    api_port: int
    data_dir: Path
    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def patroni_pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def postmaster_pid(self) -> int | None:
        """From postmaster.pid, while the server runs."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    @property
    def agent_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def status(self) -> dict[str, Any] | None:
        """Patroni's own view of this node (GET /patroni), or None when its agent is down."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.api_port}/patroni", timeout=2
            ) as response:
                answer: dict[str, Any] = json.load(response)
                return answer
        except urllib.error.HTTPError as error:  # 503 on a replica: the body still says why
            try:
                body: dict[str, Any] = json.load(error)
                return body
            except ValueError:
                return None
        except (OSError, ValueError):
            return None


@dataclass
class PatroniCluster:
    base: Path
    etcd_port: int
    nodes: dict[str, PatroniNode]
    etcd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    dbname: str = DBNAME
    user: str = USER
    password: str = PASSWORD

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in self.nodes.values())
        return (
            f"postgresql://{self.user}:{self.password}@{hosts}/{self.dbname}"
            "?target_session_attrs=read-write"
        )

    def node_url(self, name: str, dbname: str | None = None) -> str:
        """One node only (reads from a replica, checks of one server)."""
        port = self.nodes[name].pg_port
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{port}/{dbname or self.dbname}"

    def primary(self) -> str | None:
        """The node Patroni calls its leader and that runs as primary, or None during a gap."""
        for node in self.nodes.values():
            status = node.status()
            if status and status.get("role") in PRIMARY_ROLES and status.get("state") == "running":
                return node.name
        return None

    def replicas(self) -> dict[str, str]:
        """Name → role, per Patroni, of every node whose agent answers and is not primary."""
        roles = {}
        for node in self.nodes.values():
            status = node.status()
            if status and status.get("role") not in PRIMARY_ROLES:
                roles[node.name] = f"{status.get('role')}/{status.get('state')}"
        return roles

    def wait_for_primary(self, timeout: float, *, other_than: str | None = None) -> str:
        """Wait until a primary (not `other_than`) accepts a write; its name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.primary()
            if name is not None and name != other_than and self._accepts_writes(name):
                return name
            time.sleep(0.2)
        raise ClusterTimeout(f"no primary accepting writes after {timeout}s; {self.describe()}")

    def _accepts_writes(self, name: str) -> bool:
        """A write commits: with strict synchronous mode, only once a standby confirms it."""
        try:
            with psycopg.connect(
                self.node_url(name, "postgres"), autocommit=True, connect_timeout=2
            ) as conn:
                # A commit whose wait for the standby is cancelled (by the timeout) is only
                # local, and PostgreSQL says so in a warning rather than an error.
                notices: list[str] = []
                conn.add_notice_handler(lambda notice: notices.append(str(notice.message_primary)))
                conn.execute("SET statement_timeout = '2s'")
                conn.execute("SELECT txid_current()")  # an xid: its commit waits for a standby
                return not any("synchronous" in notice for notice in notices)
        except psycopg.Error:
            return False

    def kill_primary(self) -> str:
        """kill -9 the primary's postmaster and its Patroni agent, as a machine loss would."""
        name = self.primary()
        if name is None:
            raise ClusterTimeout(f"no primary to kill; {self.describe()}")
        node = self.nodes[name]
        postmaster = node.postmaster_pid
        _kill(node.patroni_pid)
        _kill(postmaster)
        if node.process is not None:
            node.process.wait()
        return name

    def wait_for_replica_rejoined(self, name: str, timeout: float) -> None:
        """Wait until `name` streams from the current primary as a replica."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            primary = self.primary()
            status = self.nodes[name].status()
            if (
                primary is not None
                and primary != name
                and status
                and status.get("role") == "replica"
                and status.get("state") == "running"
                and self._streams_to(primary, name)
            ):
                return
            time.sleep(0.3)
        raise ClusterTimeout(f"{name} did not rejoin as a replica in {timeout}s; {self.describe()}")

    def _streams_to(self, primary: str, replica: str) -> bool:
        try:
            with psycopg.connect(
                self.node_url(primary, "postgres"), autocommit=True, connect_timeout=2
            ) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication "
                    "WHERE application_name = %s AND state = 'streaming'",
                    (replica,),
                ).fetchone()
                return bool(row and row[0])
        except psycopg.Error:
            return False

    def restart_node(self, name: str) -> None:
        """Start the node's Patroni again (stopping it first if it runs); it rejoins by itself."""
        node = self.nodes[name]
        if node.agent_alive:
            self._stop_node(node)
        self._start_node(node)

    def switchover(self, candidate: str | None = None) -> str:
        """A planned handover (Patroni's POST /switchover); the new primary's name."""
        leader = self.primary()
        if leader is None:
            raise ClusterTimeout(f"no primary to switch over from; {self.describe()}")
        body = json.dumps({"leader": leader, **({"candidate": candidate} if candidate else {})})
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.nodes[leader].api_port}/switchover",
                data=body.encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - our http:// URL
                    break
            except urllib.error.HTTPError as refused:
                # 412: no synchronous standby to hand over to yet (one has just rejoined).
                reason = refused.read().decode(errors="replace")
                if refused.code != 412 or time.monotonic() > deadline:
                    raise ClusterTimeout(
                        f"switchover refused: {reason}; {self.describe()}"
                    ) from None
                time.sleep(0.5)
        return self.wait_for_primary(60, other_than=leader)

    def describe(self) -> str:
        parts = []
        for node in self.nodes.values():
            status = node.status() or {}
            parts.append(f"{node.name}: {status.get('role', 'down')}/{status.get('state', '-')}")
        return ", ".join(parts)

    # ---- processes -----------------------------------------------------------------------

    def _start_etcd(self) -> None:
        data = self.base / "etcd"
        peer = _free_ports(1)[0]
        log = open(self.base / "etcd.log", "ab")  # noqa: SIM115 - the child keeps it
        self.etcd = subprocess.Popen(
            [
                etcd_binary(),
                *("--name", "etcd", "--data-dir", str(data)),
                *("--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}"),
                *("--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}"),
                *("--listen-peer-urls", f"http://127.0.0.1:{peer}"),
                *("--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}"),
                *("--initial-cluster", f"etcd=http://127.0.0.1:{peer}"),
                *("--heartbeat-interval", "100", "--election-timeout", "1000"),
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.etcd_port}/health", timeout=1
                ) as response:
                    if json.load(response).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            if self.etcd.poll() is not None:
                break
            time.sleep(0.1)
        raise ClusterTimeout(f"etcd did not start; see {self.base / 'etcd.log'}")

    def _start_node(self, node: PatroniNode) -> None:
        log = open(node.log_file, "ab")  # noqa: SIM115 - the child keeps it
        node.process = subprocess.Popen(
            [patroni_binary(), str(node.config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.base,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base)},
            start_new_session=True,
            **_run_as_postgres(),
        )
        log.close()

    def _stop_node(self, node: PatroniNode, grace: float = 20) -> None:
        """SIGTERM: Patroni stops PostgreSQL (fast mode) and leaves; SIGKILL what stays."""
        postmaster = node.postmaster_pid
        if node.process is not None and node.process.poll() is None:
            node.process.terminate()
            try:
                node.process.wait(grace)
            except subprocess.TimeoutExpired:
                _kill(node.process.pid)
                node.process.wait()
        deadline = time.monotonic() + grace
        while _alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill(postmaster if _alive(postmaster) else None)

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.agent_alive:
                assert node.process is not None
                node.process.terminate()  # all at once: each waits for nothing from others
        for node in self.nodes.values():
            self._stop_node(node)
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()
        self._kill_strays()

    def _kill_strays(self) -> None:
        """Any process still running from our directory (a backend its postmaster left)."""
        marker = str(self.base)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                _kill(int(entry.name))


def _node_config(
    cluster: PatroniCluster, node: PatroniNode, bin_dir: str, *, durable: bool
) -> dict[str, Any]:
    local = f"127.0.0.1:{node.pg_port}"
    parameters: dict[str, Any] = {
        "unix_socket_directories": str(cluster.base / "sock"),
        "max_connections": 100,
        "shared_buffers": "32MB",
        "wal_keep_size": "64MB",
    }
    if not durable:
        parameters["fsync"] = "off"  # a kill -9 keeps the page cache; an OS crash would not
    return {
        "scope": SCOPE,
        "name": node.name,
        "log": {"level": "WARNING"},
        "restapi": {
            "listen": f"127.0.0.1:{node.api_port}",
            "connect_address": f"127.0.0.1:{node.api_port}",
        },
        "etcd3": {"hosts": [f"127.0.0.1:{cluster.etcd_port}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1048576,
                "synchronous_mode": True,
                "synchronous_mode_strict": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                    },
                },
            },
            "initdb": [
                {"encoding": "UTF8"},
                {"auth-host": "scram-sha-256"},
                {"auth-local": "trust"},
            ],
        },
        "postgresql": {
            "listen": local,
            "connect_address": local,
            "data_dir": str(node.data_dir),
            "bin_dir": bin_dir,
            "pgpass": str(cluster.base / f"pgpass-{node.name}"),
            "authentication": {
                "superuser": {"username": cluster.user, "password": cluster.password},
                "replication": {"username": "replicator", "password": cluster.password},
                "rewind": {"username": "rewinder", "password": cluster.password},
            },
            # A standby's copy starts at a checkpoint: an immediate one, not one spread over
            # minutes (which is what made startup take 20 s to 100 s).
            "basebackup": [{"checkpoint": "fast"}],
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 scram-sha-256",
                "host replication replicator 127.0.0.1/32 scram-sha-256",
            ],
            "parameters": parameters,
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
    }


@contextmanager
def patroni_cluster(
    *, durable: bool = False, startup_timeout: float = 240
) -> Iterator[PatroniCluster]:
    """Start etcd and three Patroni nodes; yield once a primary accepts synchronous writes and
    both standbys stream from it; stop everything and delete the directory afterwards."""
    etcd_binary(), patroni_binary()
    bin_dir = _pg_bin_dir()
    base = Path(tempfile.mkdtemp(prefix="flero-patroni-"))
    os.chmod(base, 0o755)  # noqa: S103 - `postgres` must reach its directories below
    ports = _free_ports(1 + 2 * len(NODES))
    nodes = {
        name: PatroniNode(
            name,
            pg_port=ports[1 + 2 * i],
            api_port=ports[2 + 2 * i],
            data_dir=base / name / "data",
            config_file=base / name / "patroni.yml",
            log_file=base / name / "patroni.log",
        )
        for i, name in enumerate(NODES)
    }
    cluster = PatroniCluster(base, ports[0], nodes)
    try:
        (base / "sock").mkdir()
        for node in nodes.values():
            node.config_file.parent.mkdir()
            # JSON is YAML: no YAML writer needed here.
            node.config_file.write_text(
                json.dumps(_node_config(cluster, node, bin_dir, durable=durable), indent=1)
            )
            node.config_file.parent.chmod(0o700)
        if os.geteuid() == 0:
            for path in [base, base / "sock", *base.glob("pg*"), *base.glob("pg*/*")]:
                shutil.chown(path, "postgres", "postgres")
        cluster._start_etcd()
        for node in nodes.values():
            cluster._start_node(node)
        primary = cluster.wait_for_primary(startup_timeout)
        with psycopg.connect(cluster.node_url(primary, "postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{cluster.dbname}"')
        for name in nodes:
            if name != primary:
                cluster.wait_for_replica_rejoined(name, startup_timeout)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the cluster as Ctrl-C does
    started = time.monotonic()
    try:
        with patroni_cluster() as cluster:
            print(f"up in {time.monotonic() - started:.1f}s; primary {cluster.primary()}")
            for node in cluster.nodes.values():
                print(
                    f"  {node.name}: postgres 127.0.0.1:{node.pg_port} "
                    f"(pid {node.postmaster_pid}), Patroni API 127.0.0.1:{node.api_port} "
                    f"(pid {node.patroni_pid})"
                )
            print(f"  etcd: 127.0.0.1:{cluster.etcd_port}; files in {cluster.base}")
            print(cluster.url)
            print("Ctrl-C stops the cluster", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped")
    except ClusterMissing as missing:
        sys.exit(f"patroni_cluster: {missing}")


if __name__ == "__main__":
    main()
