"""The event-store application: accounts and organisations on the eventsourcing library."""

from __future__ import annotations

import contextlib
from copy import deepcopy
from dataclasses import asdict
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    Cache,
    project_aggregate,
)
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import EventStore, JSONTranscoder, StoredEvent, Transcoding
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

    def find_signed_in(
        self, account_id: UUID, session_stream: UUID
    ) -> tuple[Account | None, Session | None, Organisation | None]:
        """The account, one of its sessions and the account's organisation, as checking a
        session token needs them on every request. Those cached are brought up to date
        together, with one query for all (each `find_*` asks on its own); the others are read
        as `find_*` reads them. Nothing is ever answered from the cache alone: a sign-out or a
        revocation recorded anywhere is in what this returns."""
        select_newer: Any = getattr(self.recorder, "select_newer_events", None)
        cache = self.repository.cache
        if select_newer is None or cache is None:  # SQLite: a query costs no round trip
            account = self.find_account(account_id)
            if account is None:
                return None, None, None
            org = self.find_organisation(account.org_id)
            return account, self.find_session(session_stream), org
        cached = self._cached(cache, account_id, session_stream)
        cached_account = cached.get(account_id)
        org_id = cached_account.org_id if isinstance(cached_account, Account) else None
        if org_id is not None:
            cached.update(self._cached(cache, org_id))
        newer = select_newer({s: found.version for s, found in cached.items()}) if cached else {}
        loaded = {s: self._fast_forwarded(s, cached[s], newer[s]) for s in cached}
        account = self._loaded(loaded, account_id, Account)
        if account is None:  # a made-up token: nothing more is read for it
            return None, None, None
        session = self._loaded(loaded, session_stream, Session)
        if account.org_id == org_id:
            return account, session, self._loaded(loaded, org_id, Organisation)
        # Not cached, or the account moved since.
        return account, session, self.find_organisation(account.org_id)

    @staticmethod
    def _cached(cache: Cache[UUID, Any], *streams: UUID) -> dict[UUID, Any]:
        found = {}
        for stream in streams:
            with contextlib.suppress(KeyError):
                found[stream] = cache.get(stream)
        return found

    def _fast_forwarded(self, stream: UUID, cached: Any, newer: list[StoredEvent]) -> Any:
        """A copy of the cached aggregate with the events it lacks applied (under the lock the
        library's own fast-forward takes, which another thread may have moved it on with)."""
        repository = self.repository
        lock = repository._use_fastforward_lock(stream)  # the library's own (private) lock
        try:
            with lock:
                lacking = [e for e in newer if e.originator_version > cached.version]
                project_aggregate(cached, map(self.mapper.to_domain_event, lacking))
                return deepcopy(cached)  # a refused command leaves the cached one untouched
        finally:
            repository._disuse_fastforward_lock(stream)

    def _loaded(self, loaded: dict[UUID, Any], stream: UUID, kind: type[A]) -> A | None:
        found = loaded[stream] if stream in loaded else self._find(stream, kind)
        return found if isinstance(found, kind) else None

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
