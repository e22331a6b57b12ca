"""The event-store application: accounts and organisations on the eventsourcing library."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.utils import get_topic

from ledger.account import Account
from ledger.lockout import Lockout
from ledger.mapper import PydanticMapper
from ledger.organisation import Organisation
from ledger.sign_in_source import SignInSource
from ledger.sso_domain import SsoDomain
from ledger.sso_identity import SsoIdentity
from ledger.unknown_account import UnknownAccountAttempts

SNAPSHOT_INTERVAL = 100
# Long-running processes (the projection worker, benchmarks, a server) keep recently used
# aggregates and read only their newer events before each command ("fast-forward"), which is
# safe with other writers. Commands get a deep copy, so a refused command leaves no trace.
AGGREGATE_CACHE_SIZE = 1000


class SecurityLedger(Application[UUID]):
    """Stores every security event. On PostgreSQL the tables are named after the application
    (`ledger_events`, `ledger_snapshots`); the library's SQLite recorder always uses
    `stored_events` and `stored_snapshots`."""

    name = "Ledger"
    env: ClassVar[dict[str, str]] = {
        "MAPPER_TOPIC": get_topic(PydanticMapper),
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Account: SNAPSHOT_INTERVAL,
        SignInSource: SNAPSHOT_INTERVAL,  # an attacker's address can fail for years
    }
    snapshot_class = Snapshot

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """Snapshots hold aggregate state as it is; teach the transcoder our value types."""
        super().register_transcodings(transcoder)
        transcoder.register(LockoutAsDict())

    def find_account(self, account_id: UUID) -> Account | None:
        found = self._find(account_id)
        return found if isinstance(found, Account) else None

    def find_organisation(self, org_id: UUID) -> Organisation | None:
        found = self._find(org_id)
        return found if isinstance(found, Organisation) else None

    def find_unknown_account_attempts(self, stream_id: UUID) -> UnknownAccountAttempts | None:
        found = self._find(stream_id)
        return found if isinstance(found, UnknownAccountAttempts) else None

    def find_sso_identity(self, identity_id: UUID) -> SsoIdentity | None:
        found = self._find(identity_id)
        return found if isinstance(found, SsoIdentity) else None

    def find_sso_domain(self, domain_id: UUID) -> SsoDomain | None:
        found = self._find(domain_id)
        return found if isinstance(found, SsoDomain) else None

    def find_sign_in_source(self, stream_id: UUID) -> SignInSource | None:
        found = self._find(stream_id)
        return found if isinstance(found, SignInSource) else None

    def _find(self, aggregate_id: UUID) -> object:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None


class LockoutAsDict(Transcoding):
    type = Lockout
    name = "lockout"

    def encode(self, obj: Lockout) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> Lockout:
        return Lockout(**data)
