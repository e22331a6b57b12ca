"""Every read model the ledger maintains, in the order they are caught up."""

from __future__ import annotations

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
