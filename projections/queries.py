"""The questions the Security tab asks, answered from read models brought up to date first."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.database import Transaction
from ledger.errors import AccountNotFound
from ledger.store import LedgerStore
from projections.alerts import security_alerts
from projections.api_keys import api_keys
from projections.audit_log import audit_entries
from projections.catalogue import caught_up, read_caught_up, read_models_of
from projections.login_history import login_history
from projections.mfa_state import MFA_STATUS, mfa_document
from projections.sessions import DEFAULT_PAGE, SessionPage, active_sessions, sessions_ended_by


@contextmanager
def _known_account(store: LedgerStore, email: str) -> Iterator[tuple[Transaction, UUID]]:
    """A transaction over the read models, once every one has caught up, and the account's id,
    once the directory knows it: the question is asked in the same transaction (every request
    of the Security tab asks one, and a transaction on PostgreSQL costs round trips)."""
    account_id = store.account_id(email)
    with read_models_of(store).transaction() as tx:
        known = tx.fetchone("SELECT 1 FROM rm_accounts WHERE account_id = ?", (str(account_id),))
        if known is None:
            raise AccountNotFound(email)
        yield tx, account_id


def account_mfa_status(store: LedgerStore, email: str) -> dict[str, Any]:
    status = mfa_status_of(store, store.account_id(email))
    if status is None:
        raise AccountNotFound(email)
    return status


def mfa_status_of(store: LedgerStore, account_id: UUID) -> dict[str, Any] | None:
    """The account's MFA state (None until the directory knows the account): one statement,
    asked in the same round trip as whether the read models are up to date (the API asks
    for the signed-in account on every visit of the Security tab)."""
    rows = read_caught_up(store, MFA_STATUS, (str(account_id),))
    return mfa_document(rows[0]) if rows else None


def account_audit_log(
    store: LedgerStore, email: str, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    with _known_account(store, email) as (tx, account_id):
        return audit_entries(tx, account_id, since, until)


def account_sessions(
    store: LedgerStore,
    email: str,
    now: datetime,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> SessionPage:
    with _known_account(store, email) as (tx, account_id):
        return active_sessions(tx, account_id, now, limit, cursor)


def sessions_ended(store: LedgerStore, position: int) -> int:
    """How many active sessions the decision recorded at `position` ended."""
    caught_up(store)
    with store.database.transaction() as tx:
        return len(sessions_ended_by(tx, position))


def account_login_history(
    store: LedgerStore, email: str, now: datetime, days: int
) -> list[dict[str, Any]]:
    with _known_account(store, email) as (tx, account_id):
        return login_history(tx, account_id, now, days)


def account_alerts(store: LedgerStore, email: str) -> list[dict[str, Any]]:
    with _known_account(store, email) as (tx, account_id):
        return security_alerts(tx, account_id)


def account_api_keys(store: LedgerStore, email: str) -> list[dict[str, Any]]:
    with _known_account(store, email) as (tx, account_id):
        return api_keys(tx, account_id)
