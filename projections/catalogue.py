"""Every read model the ledger maintains, in the order they are caught up, and where a query
reads them."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ledger.database import Database, Row
from ledger.store import LedgerStore
from projections.alerts import AlertsProjection
from projections.api_keys import ApiKeysProjection
from projections.audit_log import AuditLogProjection
from projections.directory import DirectoryProjection
from projections.framework import ProjectionRunner
from projections.login_history import LoginHistoryProjection
from projections.mfa_state import MfaStateProjection
from projections.sessions import SessionsProjection


def runner_for(store: LedgerStore) -> ProjectionRunner:
    keyring = store.keyring
    kinds = (
        DirectoryProjection,
        MfaStateProjection,
        AuditLogProjection,
        SessionsProjection,
        LoginHistoryProjection,
        AlertsProjection,
        ApiKeysProjection,
    )
    return ProjectionRunner(store, [kind(keyring) for kind in kinds])


# One catch-up at a time in a process: the server's threads that find the read models behind
# wait for the one already catching up, rather than queue on its row locks to find nothing left.
_CATCHING_UP = threading.Lock()


def caught_up(store: LedgerStore) -> ProjectionRunner:
    """Read-your-writes: bring every read model up to the ledger before answering a query."""
    runner = runner_for(store)
    if runner.behind():
        _catch_up_once(runner)
    return runner


def _catch_up_once(runner: ProjectionRunner) -> None:
    with _CATCHING_UP:
        if runner.behind():  # unless the thread before did it meanwhile
            runner.catch_up_all()


REPLICA_WAIT_SECONDS = 2.0  # how long a query waits for a replica to reach its position
REPLICA_POLL_SECONDS = 0.02
log = logging.getLogger(__name__)


def read_models_of(store: LedgerStore) -> Database:
    """The database a query reads the read models from. With a replica (`--read-db`), the
    replica, once every read model there has reached the position the query asked for
    (`store.read_after`, a command's answer: read-your-writes), waiting a little for it;
    otherwise, and when the replica is late or unreachable, the primary, caught up first."""
    replica = _replica_in_reach(store)
    if replica is not None:
        return replica
    caught_up(store)
    return store.database


def _replica_in_reach(store: LedgerStore) -> Database | None:
    replica = store.replica
    return replica if replica is not None and _has_reached(replica, store.read_after) else None


def _has_reached(replica: Database, position: int | None) -> bool:
    """Whether the replica answers, and its read models have all reached `position`."""
    deadline = time.monotonic() + REPLICA_WAIT_SECONDS
    try:
        while True:
            with replica.transaction() as tx:
                row = tx.fetchone("SELECT min(position) FROM projection_tracking")
            reached = row[0] if row is not None and row[0] is not None else 0
            if position is None or int(reached) >= position:
                return True
            if time.monotonic() > deadline:
                log.info("the replica has not reached position %d: reading the primary", position)
                return False
            time.sleep(REPLICA_POLL_SECONDS)
    except Exception as unreachable:  # whatever keeps the replica from answering
        log.warning("the replica cannot be read (%s): reading the primary", unreachable)
        return False


def read_caught_up(store: LedgerStore, sql: str, params: tuple[Any, ...]) -> list[Row]:
    """Read-your-writes for one statement, in one round trip when the read models are up to
    date: whether they are is asked in the same pipeline, just before the statement, which
    therefore sees at least what the answer to that saw. Only when some read model is behind
    are they caught up, and the statement asked again. With a replica (`--read-db`), the
    statement is asked there once it has reached the position asked for (read_models_of)."""
    replica = _replica_in_reach(store)
    if replica is not None:
        (rows,) = replica.reads((sql, params))
        return rows
    runner = runner_for(store)
    lag, rows = store.database.reads(runner.lag_query(), (sql, params))
    if runner.lagging(lag):
        _catch_up_once(runner)
        (rows,) = store.database.reads((sql, params))
    return rows
