"""Every read model the ledger maintains, in the order they are caught up."""

from __future__ import annotations

from ledger.store import LedgerStore
from projections.audit_log import AuditLogProjection
from projections.directory import DirectoryProjection
from projections.framework import ProjectionRunner
from projections.mfa_state import MfaStateProjection


def runner_for(store: LedgerStore) -> ProjectionRunner:
    keyring = store.keyring
    return ProjectionRunner(
        store,
        [DirectoryProjection(keyring), MfaStateProjection(keyring), AuditLogProjection(keyring)],
    )


def caught_up(store: LedgerStore) -> ProjectionRunner:
    """Read-your-writes: bring every read model up to the ledger before answering a query."""
    runner = runner_for(store)
    runner.catch_up_all()
    return runner
