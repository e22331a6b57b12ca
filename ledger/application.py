"""The event-store application: accounts and organisations on the eventsourcing library."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import EventStore, JSONTranscoder, Transcoding
from eventsourcing.utils import EnvType, get_topic

from ledger.account import Account
from ledger.lockout import Lockout
from ledger.mapper import PydanticMapper
from ledger.organisation import Organisation
from ledger.session import Session
from ledger.sign_in_source import SignInSource
from ledger.sms_code_requests import SmsCodeRequests
from ledger.snapshots import AuthenticatedSnapshots
from ledger.sso_domain import SsoDomain
from ledger.sso_identity import SsoIdentity
from ledger.unknown_account import UnknownAccountAttempts

A = TypeVar("A")
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
        SmsCodeRequests: SNAPSHOT_INTERVAL,  # a victim's address can be asked for for years
        Session: SNAPSHOT_INTERVAL,  # a browser left open records activity for months
    }
    snapshot_class = Snapshot

    def __init__(self, env: EnvType | None = None, *, snapshot_key: bytes) -> None:
        """`snapshot_key` authenticates snapshots (see ledger/snapshots.py); it comes from the
        master key, never from the database."""
        self._snapshot_key = snapshot_key
        super().__init__(env)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        self.authenticated_snapshots = AuthenticatedSnapshots(
            self.mapper, self.factory.aggregate_recorder(purpose="snapshots"), self._snapshot_key
        )
        return self.authenticated_snapshots

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """Snapshots hold aggregate state as it is; teach the transcoder our value types."""
        super().register_transcodings(transcoder)
        transcoder.register(LockoutAsDict())

    def find_account(self, account_id: UUID) -> Account | None:
        return self._find(account_id, Account)

    def find_organisation(self, org_id: UUID) -> Organisation | None:
        return self._find(org_id, Organisation)

    def find_unknown_account_attempts(self, stream_id: UUID) -> UnknownAccountAttempts | None:
        return self._find(stream_id, UnknownAccountAttempts)

    def find_sso_identity(self, identity_id: UUID) -> SsoIdentity | None:
        return self._find(identity_id, SsoIdentity)

    def find_sso_domain(self, domain_id: UUID) -> SsoDomain | None:
        return self._find(domain_id, SsoDomain)

    def find_session(self, stream_id: UUID) -> Session | None:
        return self._find(stream_id, Session)

    def find_sign_in_source(self, stream_id: UUID) -> SignInSource | None:
        return self._find(stream_id, SignInSource)

    def find_sms_code_requests(self, stream_id: UUID) -> SmsCodeRequests | None:
        return self._find(stream_id, SmsCodeRequests)

    def _find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate, if there is one of that kind (stream ids never collide across kinds,
        but a stream of another kind is "not found" all the same)."""
        try:
            found: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None


class LockoutAsDict(Transcoding):
    type = Lockout
    name = "lockout"

    def encode(self, obj: Lockout) -> dict[str, Any]:
        return asdict(obj)

    def decode(self, data: dict[str, Any]) -> Lockout:
        return Lockout(**data)
