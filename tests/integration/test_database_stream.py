"""`Database.stream`: the rows of a long query, read a batch ahead (PostgreSQL), in order."""

from __future__ import annotations

from ledger.store import LedgerStore

COUNT = 2_500
NUMBERS = (
    "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < ?) "
    "SELECT n FROM numbers ORDER BY n"
)


def test_every_row_comes_once_in_order_across_batches(store: LedgerStore) -> None:
    rows = store.database.stream(NUMBERS, (COUNT,), batch=100)

    assert [n for (n,) in rows] == list(range(1, COUNT + 1))


def test_a_stream_closed_early_leaves_the_database_usable(store: LedgerStore) -> None:
    rows = store.database.stream(NUMBERS, (COUNT,), batch=100)
    first = [next(rows)[0] for _ in range(150)]  # into the second batch, the third fetched
    rows.close()

    assert first == list(range(1, 151))
    with store.database.transaction() as tx:
        assert tx.fetchone("SELECT 1") == (1,)
    assert [n for (n,) in store.database.stream(NUMBERS, (3,))] == [1, 2, 3]
