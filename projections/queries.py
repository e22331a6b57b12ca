"""The questions the Security tab asks, answered from read models brought up to date first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.errors import AccountNotFound
from ledger.store import LedgerStore
from projections.audit_log import audit_entries
from projections.catalogue import caught_up
from projections.mfa_state import mfa_status


def account_mfa_status(store: LedgerStore, email: str) -> dict[str, Any]:
    caught_up(store)
    with store.database.transaction() as tx:
        status = mfa_status(tx, store.account_id(email))
    if status is None:
        raise AccountNotFound(email)
    return status


def account_audit_log(
    store: LedgerStore, email: str, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    account_id = store.account_id(email)
    if store.app.find_account(account_id) is None:
        raise AccountNotFound(email)
    caught_up(store)
    with store.database.transaction() as tx:
        return audit_entries(tx, account_id, since, until)
