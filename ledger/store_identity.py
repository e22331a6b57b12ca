"""The store's identity: a random id it is given once, which names its checkpoint anchor.

The anchor (checkpoints.py) is kept outside the database, so something must lead from a store
to its anchor. An address does not: the same database is reached by a relative or an absolute
path, through a symlink, by another host name. The id recorded in the store itself does, by
whatever address it is opened.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from ledger.database import Database


def identify(database: Database) -> tuple[UUID, bool]:
    """The store's id, and whether it was given just now: to a new store when it is first
    opened, or to a store recorded before stores had identities."""
    with database.transaction() as tx:
        row = tx.fetchone("SELECT store_id FROM ledger_identity")
        if row is not None:
            return UUID(str(row[0])), False
        given = uuid4()
        # Another process may give one at the same moment: the first to commit wins.
        tx.execute(
            "INSERT INTO ledger_identity (singleton, store_id) VALUES (1, ?) "
            "ON CONFLICT (singleton) DO NOTHING",
            (str(given),),
        )
        row = tx.fetchone("SELECT store_id FROM ledger_identity")
    assert row is not None
    kept = UUID(str(row[0]))
    return kept, kept == given
