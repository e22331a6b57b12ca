"""The event-store application: accounts and organisations on the eventsourcing library."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Snapshot
from eventsourcing.utils import get_topic

from ledger.account import Account
from ledger.mapper import PydanticMapper
from ledger.organisation import Organisation

SNAPSHOT_INTERVAL = 100


class SecurityLedger(Application[UUID]):
    """Stores every security event. On PostgreSQL the tables are named after the application
    (`ledger_events`, `ledger_snapshots`); the library's SQLite recorder always uses
    `stored_events` and `stored_snapshots`."""

    name = "Ledger"
    env: ClassVar[dict[str, str]] = {"MAPPER_TOPIC": get_topic(PydanticMapper)}
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Account: SNAPSHOT_INTERVAL}
    snapshot_class = Snapshot

    def find_account(self, account_id: UUID) -> Account | None:
        found = self._find(account_id)
        return found if isinstance(found, Account) else None

    def find_organisation(self, org_id: UUID) -> Organisation | None:
        found = self._find(org_id)
        return found if isinstance(found, Organisation) else None

    def _find(self, aggregate_id: UUID) -> object:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
