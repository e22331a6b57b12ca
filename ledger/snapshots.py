"""Snapshots the ledger can trust: each one carries a MAC under a key the database never holds.

A snapshot is a cache of an aggregate's state at one version, so that loading it need not
replay every event. The hash chain does not cover it, so without more, whoever can write the
snapshot table could hand a command any state: an API key of their choosing, a cleared TOTP
secret, a lifted lockout. Each snapshot is therefore stored behind an HMAC-SHA256 under a key
derived from the master key (kept in its key file or the environment, never in the database),
over the aggregate's id, the version, the topic and the stored bytes. A snapshot whose MAC does
not verify (forged, edited, moved to another aggregate or version, or taken before snapshots
were authenticated) is never loaded: the aggregate is replayed from its events instead, the
snapshot is reported (a warning here, a finding of `verify --store`), and the next one taken
is authenticated.

A MAC, not the chain link of the version a snapshot claims: the link proves which events came
before that version, not that the state in the snapshot is what they add up to.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    Recording,
    StoredEvent,
)

from ledger.chain import GENESIS, link

AUTHENTICATED = b"flero-ledger snapshot v1\n"  # then the 32-byte MAC, then the stored bytes
MAC_SIZE = 32
log = logging.getLogger(__name__)


class SnapshotSeal:
    """Authenticates stored snapshots under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, stored: StoredEvent) -> StoredEvent:
        mac = self._mac(stored, stored.state)
        return _with_state(stored, AUTHENTICATED + mac + stored.state)

    def open(self, stored: StoredEvent) -> StoredEvent | None:
        """The snapshot as the mapper wrote it, or None unless its MAC verifies."""
        state = bytes(stored.state)
        if not state.startswith(AUTHENTICATED):
            return None  # taken before snapshots were authenticated, or written by hand
        mac = state[len(AUTHENTICATED) :][:MAC_SIZE]
        inner = state[len(AUTHENTICATED) + MAC_SIZE :]
        if not hmac.compare_digest(mac, self._mac(stored, inner)):
            return None
        return _with_state(stored, inner)

    def _mac(self, stored: StoredEvent, state: bytes) -> bytes:
        # The chain link's encoding of (aggregate, version, topic, bytes) is unambiguous: reuse it.
        aggregate = UUID(str(stored.originator_id))
        digest = link(GENESIS, aggregate, stored.originator_version, stored.topic, state)
        return hmac.digest(self._key, digest, "sha256")


def _with_state(stored: StoredEvent, state: bytes) -> StoredEvent:
    return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)


class AuthenticatedSnapshots(EventStore[UUID]):
    """The application's snapshot store: seals what it stores, loads only what verifies."""

    def __init__(self, mapper: Mapper[UUID], recorder: AggregateRecorder, key: bytes) -> None:
        super().__init__(mapper, recorder)
        self.seal = SnapshotSeal(key)

    def put(
        self, domain_events: Sequence[DomainEventProtocol[UUID]], **kwargs: Any
    ) -> list[Recording[UUID]]:
        stored = [self.seal.seal(self.mapper.to_stored_event(e)) for e in domain_events]
        self.recorder.insert_events(stored, **kwargs)
        return []  # snapshots are not notifications: nothing is recorded in the log

    def get(
        self,
        originator_id: UUID,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Iterator[DomainEventProtocol[UUID]]:
        """The snapshots asked for that verify. The repository asks for the newest one only:
        when it does not verify, the aggregate is replayed from its first event."""
        stored = self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        for snapshot in stored:
            opened = self.seal.open(snapshot)
            if opened is None:
                log.warning(
                    "ignored the snapshot of %s at version %d: not authenticated by this "
                    "ledger's key (forged, or taken before snapshots were); replayed its events",
                    originator_id,
                    snapshot.originator_version,
                )
                continue
            yield self.mapper.to_domain_event(opened)
