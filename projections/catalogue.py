"""Every read model the ledger maintains, in the order they are caught up."""

from __future__ import annotations

import threading
from typing import Any

from ledger.database import Row
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


def caught_up(store: LedgerStore) -> ProjectionRunner:
    """Read-your-writes: bring every read model up to the ledger before answering a query."""
    runner = runner_for(store)
    if runner.behind():
        runner.catch_up_all()
    return runner


# One catch-up at a time in a process: the server's threads that find the read models behind
# wait for the one already catching up, rather than queue on its row locks to find nothing left.
_CATCHING_UP = threading.Lock()


def read_caught_up(store: LedgerStore, sql: str, params: tuple[Any, ...]) -> list[Row]:
    """Read-your-writes for one statement, in one round trip when the read models are up to
    date: whether they are is asked in the same pipeline, just before the statement, which
    therefore sees at least what the answer to that saw. Only when some read model is behind
    are they caught up, and the statement asked again."""
    runner = runner_for(store)
    lag, rows = store.database.reads(runner.lag_query(), (sql, params))
    if runner.lagging(lag):
        with _CATCHING_UP:
            if runner.behind():  # unless the thread before did it meanwhile
                runner.catch_up_all()
        (rows,) = store.database.reads((sql, params))
    return rows
