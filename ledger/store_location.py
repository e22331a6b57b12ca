"""Where the ledger lives: parse `--db` into settings for the event store and our own tables."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DB_ENV = "FLERO_LEDGER_DB"


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


@dataclass(frozen=True)
class StoreLocation:
    """A parsed `sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB` address."""

    kind: str  # "sqlite" or "postgresql"
    sqlite_path: Path | None = None
    pg_dbname: str = ""
    pg_host: str = ""
    pg_port: str = "5432"
    pg_user: str = ""
    pg_password: str = ""

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
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise ValueError("postgresql URL needs a database name: postgresql://USER@HOST/DB")
        host = query.get("host", [parts.hostname or "localhost"])[0]
        return cls(
            kind="postgresql",
            pg_dbname=dbname,
            pg_host=host,
            pg_port=str(query.get("port", [parts.port or 5432])[0]),
            pg_user=unquote(parts.username or query.get("user", [getpass.getuser()])[0]),
            pg_password=unquote(parts.password or ""),
        )

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
        return f"postgresql://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.pg_dbname}"

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
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": "ledger.recorders_postgres:ChainedPostgresRecorder",
            "POSTGRES_DBNAME": self.pg_dbname,
            "POSTGRES_HOST": self.pg_host,
            "POSTGRES_PORT": self.pg_port,
            "POSTGRES_USER": self.pg_user,
            "POSTGRES_PASSWORD": self.pg_password,
            "POSTGRES_CONNECT_TIMEOUT": "10",
            # The schema comes from schema.sql (`flero-ledger init`), never from the library.
            "CREATE_TABLE": "no",
        }
