"""A rebuild's read models: filled out of sight, then swapped in with their positions at once.

The whole rebuild is one transaction, so readers see the old read models until it commits and
the new complete ones after; a rebuild that fails or is killed leaves the old ones as they were,
and nothing behind (an uncommitted table vanishes with its transaction).

PostgreSQL: fresh tables in a schema of their own (`LIKE ... INCLUDING ALL`), found first on the
search path, so the handlers' SQL writes them unchanged; the rows of insert-only tables are sent
with COPY. At the end each fresh table replaces its old one, under the old one's index names
and grants. SQLite: the rows are deleted and written again in the same transaction (WAL readers
keep their snapshot).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ledger.database import Database, Row, Transaction
from ledger.errors import StoreBusy

SCHEMA = "flero_rebuild"
SWAP_WAIT_MS = 10_000  # how long replacing a read model waits for the sessions reading it
# `CREATE [UNIQUE] INDEX name ON schema.table USING ...`: what an index is, without its names.
INDEX_NAMES = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ")


class BulkTransaction(Transaction):
    """The rebuild's transaction on PostgreSQL: inserts into `copied` tables are gathered and
    sent with COPY when a pipelined batch ends; every other statement goes straight through."""

    bulk = True

    def __init__(self, tx: Transaction, copied: Sequence[str]) -> None:
        self._tx = tx
        self._copied = set(copied)
        self._rows: dict[tuple[str, tuple[str, ...]], list[Sequence[Any]]] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._tx.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._tx.fetchall(sql, params)

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._tx.fetchone(sql, params)

    def insert(self, table: str, columns: Sequence[str], row: Sequence[Any]) -> None:
        if table in self._copied:
            self._rows.setdefault((table, tuple(columns)), []).append(row)
        else:
            self._tx.insert(table, columns, row)

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._tx.copy(table, columns, rows)

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        with self._tx.pipelined():
            yield
        for (table, columns), rows in self._rows.items():
            self._tx.copy(table, columns, rows)
        self._rows.clear()


@contextmanager
def fresh_read_models(
    tx: Transaction, tables: Sequence[str], copied: Sequence[str], database: Database
) -> Iterator[Transaction]:
    """The transaction to replay the log into, writing empty copies of `tables`; on leaving,
    the copies replace the originals (still uncommitted: the caller's transaction commits).
    Replacing a table waits for the sessions reading it; one that keeps reading it (an open
    transaction) makes the rebuild give up after a while (StoreBusy), leaving the old read
    models, rather than hold every later reader up behind it."""
    if not database.postgres:
        for table in tables:
            tx.execute(f"DELETE FROM {table}")  # noqa: S608 (names are our constants)
        yield tx
        return
    from psycopg.errors import LockNotAvailable  # only ever loaded for PostgreSQL

    home = _quoted(_one(tx, "SELECT current_schema()"))
    search_path = _one(tx, "SHOW search_path")
    tx.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    tx.execute(f"CREATE SCHEMA {SCHEMA}")
    for table in tables:
        tx.execute(f"CREATE TABLE {SCHEMA}.{table} (LIKE {home}.{table} INCLUDING ALL)")
    tx.execute(f"SET LOCAL search_path = {SCHEMA}, {search_path}")
    yield BulkTransaction(tx, copied)
    tx.execute(f"SET LOCAL search_path = {search_path}")
    tx.execute(f"SET LOCAL lock_timeout = {SWAP_WAIT_MS}")
    for table in tables:
        try:
            _swap(tx, home, table)
        except LockNotAvailable:
            raise StoreBusy(
                f"another session still reads {table}, so the rebuilt read models cannot "
                f"replace it; nothing was changed (sessions using it: "
                f"{database.sessions_using(table)})"
            ) from None
    tx.execute(f"DROP SCHEMA {SCHEMA}")


def _swap(tx: Transaction, home: str, table: str) -> None:
    """The fresh table takes the old one's place, index names and grants."""
    old = f"{home}.{table}"
    names = {_shape(d): n for n, d in _indexes(tx, old)}
    grants = tx.fetchall(
        "SELECT a.privilege_type, COALESCE(quote_ident(r.rolname), 'PUBLIC') "
        "FROM pg_class c CROSS JOIN aclexplode(c.relacl) a "
        "LEFT JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE c.oid = to_regclass(?) AND a.grantee <> c.relowner",
        (old,),
    )
    tx.execute(f"DROP TABLE {old}")
    tx.execute(f"ALTER TABLE {SCHEMA}.{table} SET SCHEMA {home}")
    for name, definition in _indexes(tx, old):
        wanted = names.get(_shape(definition))
        if wanted is not None and wanted != name:
            tx.execute(f"ALTER INDEX {home}.{_quoted(name)} RENAME TO {_quoted(wanted)}")
    for privilege, grantee in grants:
        tx.execute(f"GRANT {privilege} ON {old} TO {grantee}")
    tx.execute(f"ANALYZE {old}")  # a fresh table has no statistics for the planner


def _indexes(tx: Transaction, table: str) -> list[Row]:
    return tx.fetchall(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = to_regclass(?)",
        (table,),
    )


def _shape(definition: str) -> str:
    return INDEX_NAMES.sub(r"CREATE \1INDEX ON ", definition)


def _one(tx: Transaction, sql: str) -> str:
    row = tx.fetchone(sql)
    assert row is not None
    return str(row[0])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
