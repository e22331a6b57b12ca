"""A small connection to the store for the ledger's own tables (keys, outbox, read models).

The event and snapshot tables belong to the eventsourcing library's recorders; everything else
goes through this class. SQL is written once with `?` placeholders and portable syntax
(`INSERT ... ON CONFLICT`), and translated for psycopg.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from ledger.errors import StoreBusy
from ledger.file_holders import other_processes_holding
from ledger.private_files import create_private_if_missing
from ledger.store_location import StoreLocation

Row = tuple[Any, ...]
T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for another connection's lock
PURGE_WAIT_MS = 10_000  # how long emptying the write-ahead log waits for its readers

SQLITE_SCHEMA = Path(__file__).with_name("schema_sqlite.sql")
# (table, column, type) added after stores were first created with schema_sqlite.sql.
ADDED_SQLITE_COLUMNS = (("rm_login_history", "idp", "TEXT"), ("ledger_chain", "subject_id", "TEXT"))
# Indexes on added columns, made once the columns are there.
ADDED_SQLITE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ledger_chain_subject_time ON ledger_chain (subject_id, recorded_at)"
    " WHERE subject_id IS NOT NULL",
)


class Transaction:
    """One open transaction: run statements, read rows."""

    # A rebuild's transaction into fresh tables (projections/bulk.py), whose handlers may leave
    # what a bulk rebuild does once at its end.
    bulk = False

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self._cursor = cursor
        self._postgres = postgres

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(self._translate(sql), tuple(params))

    def insert(self, table: str, columns: Sequence[str], row: Sequence[Any]) -> None:
        """One row; a rebuild's transaction may gather them and COPY them together."""
        marks = ", ".join("?" * len(columns))
        self.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", row)  # noqa: S608

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows at once, by COPY (PostgreSQL only)."""
        assert self._postgres, "COPY is PostgreSQL's"
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def pipelined(self) -> AbstractContextManager[Any]:
        """PostgreSQL: send the statements inside without waiting for each reply."""
        return self._cursor.connection.pipeline() if self._postgres else nullcontext()

    def execute_script(self, sql: str) -> None:
        """Run a whole SQL file as it is (no placeholders)."""
        self._cursor.execute(sql.encode() if self._postgres else sql)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self.execute(sql, params)
        return [tuple(r) for r in self._cursor.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self.execute(sql, params)
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def _translate(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql


class Database:
    def __init__(self, location: StoreLocation) -> None:
        self.location = location
        self.postgres = location.kind == "postgresql"
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None  # a psycopg connection, imported only for PostgreSQL

    @contextmanager
    def transaction(self, *, pipelined: bool = False) -> Iterator[Transaction]:
        """Everything inside commits together or not at all. Nested calls are savepoints.

        `pipelined` (PostgreSQL) sends statements without waiting for each reply, until a row
        is read or the transaction ends: many small writes then cost one round trip.
        """
        if self.postgres:
            conn = self._pg_connection()
            with (
                conn.pipeline() if pipelined else nullcontext(),
                conn.transaction(),
                conn.cursor() as cursor,
            ):
                yield Transaction(cursor, postgres=True)
        else:
            lite = self._sqlite_connection()
            lite_cursor = lite.cursor()
            # Inside an open transaction (a key looked up while a projection writes), nest.
            nested = lite.in_transaction
            lite_cursor.execute("SAVEPOINT nested" if nested else "BEGIN IMMEDIATE")
            try:
                yield Transaction(lite_cursor, postgres=False)
            except BaseException:
                if nested:
                    lite_cursor.execute("ROLLBACK TO nested")
                    lite_cursor.execute("RELEASE nested")
                else:
                    lite.rollback()
                raise
            else:
                if nested:
                    lite_cursor.execute("RELEASE nested")
                else:
                    lite.commit()
            finally:
                lite_cursor.close()

    def reads(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Row]]:
        """The rows of each query, run one after the other, each seeing at least what the one
        before it saw, outside any transaction: read-only questions a transaction would only
        slow down. PostgreSQL: sent together and answered in one round trip (an autocommit
        pipeline: no BEGIN, no COMMIT)."""
        if not self.postgres:
            lite = self._sqlite_connection()
            return [[tuple(r) for r in lite.execute(sql, tuple(params))] for sql, params in queries]
        conn = self._pg_connection()
        cursors = [conn.cursor() for _ in queries]
        try:
            with conn.pipeline():  # one Sync at its end: the answers are read after it
                for cursor, (sql, params) in zip(cursors, queries, strict=True):
                    cursor.execute(sql.replace("?", "%s"), tuple(params))
            return [[tuple(r) for r in cursor.fetchall()] for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[Row]:
        """Rows of one query as the server sends them, `batch` at a time (PostgreSQL: a named,
        server-side cursor in a read-only transaction, each batch read ahead; SQLite: the
        statement's own snapshot). The caller must not use this database otherwise until it
        has read the last row or closed the iterator."""
        if not self.postgres:
            yield from self._sqlite_connection().execute(sql, tuple(params))
            return
        conn = self._pg_connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            with conn.cursor(name="flero_stream", binary=True) as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                for rows in read_ahead(iter(lambda: cursor.fetchmany(batch), [])):
                    yield from rows

    def create_sqlite_tables(self) -> None:
        """The embedded store creates its own tables; PostgreSQL takes them from schema.sql.

        Columns added since a store was first created are added to it here (SQLite has no
        `ADD COLUMN IF NOT EXISTS`, which schema.sql uses)."""
        lite = self._sqlite_connection()
        lite.executescript(SQLITE_SCHEMA.read_text())
        for table, column, kind in ADDED_SQLITE_COLUMNS:
            present = {row[1] for row in lite.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                lite.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for index in ADDED_SQLITE_INDEXES:
            lite.execute(index)

    def purge_freed_space(self, tables: Sequence[str]) -> None:
        """Make deleted or overwritten rows unrecoverable from the store's files (erasure).

        SQLite: VACUUM writes the database anew, without free pages, and the write-ahead log,
        which still holds pages as they were, is emptied into it (`truncate_wal`). PostgreSQL:
        each of `tables` is rewritten (VACUUM FULL) and its statistics, which sample values,
        are taken again. PostgreSQL's own WAL, and any backup or replica, are beyond reach.
        Either waits a while for readers of the old rows, then refuses (StoreBusy).
        """
        if self.postgres:
            for table in tables:
                self._rewrite_pg_table(table)
        else:
            self._sqlite_connection().execute("VACUUM")
            self.truncate_wal()

    def _rewrite_pg_table(self, table: str) -> None:
        from psycopg.errors import LockNotAvailable

        conn = self._pg_connection()  # VACUUM runs outside any transaction
        conn.execute(f"SET lock_timeout = {PURGE_WAIT_MS}")
        try:
            conn.execute(f"VACUUM (FULL, ANALYZE) {table}")
        except LockNotAvailable:
            raise StoreBusy(
                f"another session still reads {table} as it was, so it cannot be rewritten "
                f"(sessions using it: {self.sessions_using(table)})"
            ) from None
        finally:
            conn.execute("RESET lock_timeout")

    def sessions_using(self, table: str) -> str:
        """The other PostgreSQL sessions holding `table` (pid, application, state), for a
        StoreBusy message: asked on a connection of its own, since this one may be in a failed
        transaction."""
        import psycopg

        mine = self._pg.info.backend_pid if self._pg is not None and not self._pg.closed else 0
        with psycopg.connect(self.location.pg_conninfo(), autocommit=True) as conn:
            holders = conn.execute(
                "SELECT pid, application_name, state FROM pg_stat_activity "
                "WHERE pid NOT IN (pg_backend_pid(), %s) AND pid IN "
                "(SELECT pid FROM pg_locks WHERE relation = %s::regclass) ORDER BY pid",
                (mine, table),
            ).fetchall()
        named = ", ".join(f"pid {pid} ({app or 'no name'}, {state})" for pid, app, state in holders)
        return named or "none this user can see"

    def truncate_wal(self) -> None:
        """Empty SQLite's write-ahead log into the database file (PostgreSQL: nothing to do).

        A connection still reading an older snapshot keeps the log: this waits for it a while,
        then refuses (StoreBusy), naming the processes that have the store open.
        """
        if self.postgres:
            return
        lite = self._sqlite_connection()
        lite.execute(f"PRAGMA busy_timeout = {PURGE_WAIT_MS}")
        try:
            busy = lite.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            lite.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if busy:
            path = self.location.sqlite_path
            assert path is not None
            files = [path, path.with_name(path.name + "-wal")]
            holders = ", ".join(other_processes_holding(files)) or "none this user can see"
            raise StoreBusy(
                f"another connection is still reading {path} as it was, so its write-ahead "
                f"log cannot be emptied (processes with it open: {holders})"
            )

    def missing_tables(self, names: Sequence[str]) -> list[str]:
        with self.transaction() as tx:
            if self.postgres:
                rows = tx.fetchall(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            else:
                rows = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        present = {r[0] for r in rows}
        return [n for n in names if n not in present]

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            assert self.location.sqlite_path is not None
            # An empty file is an empty database; SQLite gives -wal and -shm the same mode.
            try:
                create_private_if_missing(self.location.sqlite_path)
            except OSError as error:  # what sqlite3 itself would have said, and is handled
                raise sqlite3.OperationalError(f"unable to open database file: {error}") from None
            self._sqlite = sqlite3.connect(
                self.location.sqlite_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            # What a row held is zeroed when it is deleted or overwritten, not merely unlinked.
            self._sqlite.execute("PRAGMA secure_delete=ON")
        return self._sqlite

    def _pg_connection(self) -> Any:
        import psycopg

        if self._pg is None or self._pg.closed:
            self._pg = psycopg.connect(
                self.location.pg_conninfo(connect_timeout=10),
                autocommit=True,  # transactions are explicit: `with conn.transaction()`
            )
        return self._pg


def read_ahead(batches: Iterator[T]) -> Iterator[T]:
    """The same batches, each next one produced by a thread of its own while the caller works
    through the one before. Worth it where producing one mostly waits on the server, which
    psycopg does without holding the GIL: a million events verify a sixth faster (a rebuild,
    busy in Python, gained nothing from it)."""
    with ThreadPoolExecutor(1, thread_name_prefix="flero-read-ahead") as producer:
        pending = producer.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = producer.submit(next, batches, None)
            yield batch
