"""Where the ledger lives: parse `--db` into settings for the event store and our own tables."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DB_ENV = "FLERO_LEDGER_DB"
# libpq's values (PostgreSQL 14 and later).
TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")


def default_sqlite_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "flero-ledger" / "ledger.sqlite3"


def _sqlite_path(url: str) -> Path:
    """The path after `sqlite:///`: absolute (`sqlite:////var/lib/l.sqlite3`), in a home
    directory (`sqlite:///~/l.sqlite3`), or relative only when it says so (`./`, `../`).

    `sqlite:///var/lib/l.sqlite3` is refused: it reads as the absolute path it looks like, but
    names `var/lib/l.sqlite3` under the current directory, where a new, empty ledger with a
    new master key would otherwise appear."""
    written = url.removeprefix("sqlite:///")
    if not written:
        raise ValueError("sqlite URL needs a path: sqlite:////ABSOLUTE/PATH")
    path = Path(written).expanduser()
    if path.is_absolute() or written.startswith(("./", "../")):
        return path
    raise ValueError(
        f"{url} names a path relative to the current directory ({path.absolute()}), not "
        f"/{written}: write sqlite:////{written} for the absolute path (four slashes), or "
        f"sqlite:///./{written} if you do mean the current directory"
    )


def _hosts_and_ports(hostlist: str) -> tuple[str, str]:
    """`h1:p1,[::1]:p2,h3` as libpq's comma-separated host and port lists (5432 where a host
    names none); `localhost` when the URL names no host."""
    if not hostlist:
        return "localhost", "5432"
    hosts, ports = [], []
    for entry in hostlist.split(","):
        if entry.startswith("["):  # an IPv6 address
            host, closed, rest = entry[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise ValueError(f"postgresql URL has a malformed IPv6 host {entry!r}")
            port = rest[1:]
        else:
            host, _, port = entry.partition(":")
        if not host:
            raise ValueError(
                f"postgresql URL has an empty host in its host list ({hostlist!r}): "
                "write postgresql://USER@HOST1:PORT1,HOST2:PORT2/DB"
            )
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"postgresql URL has a port that is not a port number: {entry!r}")
        hosts.append(unquote(host))
        ports.append(port or "5432")
    return ",".join(hosts), ",".join(ports)


@dataclass(frozen=True)
class StoreLocation:
    """A parsed `sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB` address.

    For PostgreSQL, `pg_host` and `pg_port` are libpq's lists: one host, or several
    comma-separated (a cluster, tried in turn), with one port each or one for all."""

    kind: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None = None
    pg_dbname: str = ""
    pg_host: str = ""
    pg_port: str = "5432"
    pg_user: str = ""
    pg_password: str = ""
    pg_target_session_attrs: str = ""  # libpq's: "read-write" finds a cluster's primary

    @classmethod
    def parse(cls, url: str | None) -> StoreLocation:
        """None is the default store; an empty address is refused, never taken for the default
        (it is what `--db "$UNSET"` passes)."""
        if url is None:
            return cls(kind="sqlite", sqlite_path=default_sqlite_path())
        if not url.strip():
            raise ValueError(
                "the store address is empty: give sqlite:////ABSOLUTE/PATH or "
                "postgresql://USER@HOST:PORT/DB, or leave --db and FLERO_LEDGER_DB unset for "
                f"the default store ({default_sqlite_path()})"
            )
        if url.startswith("sqlite:///"):
            return cls(kind="sqlite", sqlite_path=_sqlite_path(url))
        if url.startswith(("postgresql://", "postgres://")):
            return cls._parse_postgresql(url)
        raise ValueError(
            f"unsupported store address {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )

    @classmethod
    def _parse_postgresql(cls, url: str) -> StoreLocation:
        """libpq's URL, hosts and ports included: `postgresql://USER@H1:P1,H2:P2/DB?...`
        names a cluster; with `target_session_attrs=read-write` libpq connects to its primary."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise ValueError("postgresql URL needs a database name: postgresql://USER@HOST/DB")
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        hosts, ports = _hosts_and_ports(hostlist)
        host = query.get("host", [hosts])[0]
        port = query.get("port", [ports])[0]
        if len(port.split(",")) not in (1, len(host.split(","))):
            raise ValueError(
                f"postgresql URL names {len(host.split(','))} hosts but {len(port.split(','))} "
                "ports: give one port for all, or one for each host"
            )
        attrs = query.get("target_session_attrs", [""])[0]
        if attrs and attrs not in TARGET_SESSION_ATTRS:
            raise ValueError(
                f"target_session_attrs={attrs} is not one libpq knows: "
                f"use one of {', '.join(TARGET_SESSION_ATTRS)}"
            )
        return cls(
            kind="postgresql",
            pg_dbname=dbname,
            pg_host=host,
            pg_port=port,
            pg_user=unquote(user or query.get("user", [getpass.getuser()])[0]),
            pg_password=unquote(password),
            pg_target_session_attrs=attrs,
        )

    def pg_params(self) -> dict[str, str]:
        """libpq's connection parameters, as `psycopg.connect` takes them: every host and
        port (libpq tries them in turn) and the kind of server wanted among them."""
        kwargs = {
            "dbname": self.pg_dbname,
            "host": self.pg_host,
            "port": self.pg_port,
            "user": self.pg_user,
        }
        if self.pg_password:
            kwargs["password"] = self.pg_password
        if self.pg_target_session_attrs:
            kwargs["target_session_attrs"] = self.pg_target_session_attrs
        return kwargs

    def pg_conninfo(self, **extra: str | int) -> str:
        """`pg_params` (and `extra`) as one libpq connection string, for `psycopg.connect`."""
        from psycopg.conninfo import make_conninfo  # only ever loaded for PostgreSQL

        return make_conninfo("", **self.pg_params(), **extra)

    @property
    def where(self) -> str:
        """The description with an SQLite path made absolute: what to tell a person."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path.absolute())
        return self.description

    @property
    def description(self) -> str:
        if self.kind == "sqlite":
            return str(self.sqlite_path)
        hosts, ports = self.pg_host.split(","), self.pg_port.split(",")
        ports = ports * len(hosts) if len(ports) == 1 else ports
        servers = ",".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=True))
        attrs = self.pg_target_session_attrs
        return f"postgresql://{self.pg_user}@{servers}/{self.pg_dbname}" + (
            f"?target_session_attrs={attrs}" if attrs else ""
        )

    def to_json(self) -> str:
        """Every field, for another process of this program (`from_json`)."""
        path = self.sqlite_path and str(self.sqlite_path)
        return json.dumps({**dataclasses.asdict(self), "sqlite_path": path})

    @classmethod
    def from_json(cls, text: str) -> StoreLocation:
        given = json.loads(text)
        path = given.pop("sqlite_path")
        return cls(**given, sqlite_path=path and Path(path))

    def eventsourcing_env(self) -> dict[str, str]:
        """Settings for the eventsourcing library's persistence module."""
        if self.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "APPLICATION_RECORDER_TOPIC": "ledger.recorders:ChainedSQLiteRecorder",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        return {
            # The library's factory, passing target_session_attrs on to its connections.
            "PERSISTENCE_MODULE": "ledger.recorders_postgres:LedgerPostgresFactory",
            "APPLICATION_RECORDER_TOPIC": "ledger.recorders_postgres:ChainedPostgresRecorder",
            "POSTGRES_DBNAME": self.pg_dbname,
            "POSTGRES_HOST": self.pg_host,
            "POSTGRES_PORT": self.pg_port,
            "POSTGRES_USER": self.pg_user,
            "POSTGRES_PASSWORD": self.pg_password,
            "POSTGRES_TARGET_SESSION_ATTRS": self.pg_target_session_attrs,
            "POSTGRES_CONNECT_TIMEOUT": "10",
            # One connection per store: a store belongs to one thread (serve opens one per
            # handler thread), which asks for one at a time. The library's default pool holds
            # five per store, so 2 workers with 8 busy threads each exhausted PostgreSQL's 100
            # connections ("too many clients", seen in the serve benchmark).
            "POSTGRES_POOL_SIZE": "1",
            "POSTGRES_MAX_OVERFLOW": "0",
            # The schema comes from schema.sql (`flero-ledger init`), never from the library.
            "CREATE_TABLE": "no",
        }
