"""Which refusals of a save are a race lost to another writer (the command runs again on the
fresh state) and which are not: each form raised by the real store, not made up."""

from __future__ import annotations

from typing import Any

import pytest

from commands.retry import is_conflict
from ledger.events import Context, Stamp
from ledger.store import LedgerStore
from tests.conftest import Ledger


def refusal(store: LedgerStore, sql: str, row: tuple[Any, ...]) -> Exception:
    """What the store raises for `sql` with `row`."""
    with pytest.raises(Exception) as raised, store.database.transaction() as tx:
        tx.execute(sql, row)
    assert isinstance(raised.value, Exception)
    return raised.value


def test_a_stale_aggregate_saved_after_another_writer_is_a_conflict(
    ledger: Ledger, store: LedgerStore
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", "ada@acme.test", "--org", "acme")
    stale = store.account("ada@acme.test")
    ledger.ok("user", "alerts", "ada@acme.test", "--security", "off")  # another writer saves first
    stale.set_security_alerts(True, Stamp(ledger.now, Context(), store.keyring))

    with pytest.raises(Exception) as raised:
        store.app.save(stale)

    assert is_conflict(raised.value)


def test_a_key_taken_is_a_conflict_and_a_broken_rule_is_not(
    ledger: Ledger, store: LedgerStore
) -> None:
    ledger.ok("org", "create", "acme")
    with store.database.transaction() as tx:
        taken = tx.fetchone(
            "SELECT notification_id, originator_id, originator_version, recorded_at, chain_hash "
            "FROM ledger_chain ORDER BY notification_id LIMIT 1"
        )
    assert taken is not None
    insert = (
        "INSERT INTO ledger_chain "
        "(notification_id, originator_id, originator_version, recorded_at, chain_hash) "
        "VALUES (?, ?, ?, ?, ?)"
    )

    assert is_conflict(refusal(store, insert, tuple(taken)))  # the same position again
    without_stream = (taken[0] + 1_000, None, 1, taken[3], taken[4])
    assert not is_conflict(refusal(store, insert, without_stream))  # NOT NULL: a bug, not a race
