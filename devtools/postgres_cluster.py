"""A throwaway PostgreSQL cluster from the machine's own binaries (initdb, pg_ctl).

As root the server runs as the `postgres` OS user. It listens on a Unix socket only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg


class PostgresMissing(Exception):
    pass


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str = ""
    data_dir: Path | None = None  # known for a cluster we started ourselves

    def restart(self) -> None:
        """Fast shutdown (every connection is cut), then start again; waits until it is up."""
        assert self.data_dir is not None, "only a throwaway cluster can be restarted"
        subprocess.run(
            _as_postgres_user(
                [
                    *(pg_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w"),
                    *("-l", str(self.data_dir.parent / "log"), "restart"),
                ]
            ),
            check=True,
            capture_output=True,
        )

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            dbname=dbname,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            autocommit=True,
        )

    def url(self, dbname: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql://{auth}@localhost/{dbname}?host={self.host}&port={self.port}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"

    def fresh_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


def pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise PostgresMissing(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _as_postgres_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[PgServer]:
    """Start a cluster in a temporary directory; stop and delete it afterwards.

    `durable=False` turns fsync off (fine for tests); benchmarks keep PostgreSQL's defaults.
    """
    base = Path(tempfile.mkdtemp(prefix="flero-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = 54000 + os.getpid() % 1000
    subprocess.run(
        _as_postgres_user([pg_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {sockets} -p {port} -c listen_addresses=''"
    if not durable:
        options += " -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [
                pg_binary("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield PgServer(str(sockets), port, "postgres", data_dir=data)
    finally:
        subprocess.run(
            _as_postgres_user([pg_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
