"""The PostgreSQL application recorder: appends that do not queue behind each other's commits.

The library's recorder takes an EXCLUSIVE table lock and holds it through the commit, so that
notification ids commit in order; concurrent commands then wait for each other's WAL flush one
by one. This one computes the events' chain links first and hands events and links to
`ledger_append_events` (schema.sql), which draws a block of positions, inserts both and commits
in a single call while concurrent appends commit together. Readers instead ask
`ledger_readable_position()` how far the log is complete, and never read past it, so a reader
tailing the log still never skips an event that a slower append fills in later.

Exactly once across a failover: when the connection breaks during the call, the commit may or
may not have happened. The recorder then asks the store (the new primary, once there is one)
whether these very events are there — each stream and version holding exactly the state this
command wrote — before it answers or appends again: never a doubled attempt, never an
acknowledged one lost. Kept apart from the SQLite recorder so that the embedded store never
imports psycopg.

`LedgerPostgresFactory` is the library's factory, its connections given libpq's
`target_session_attrs` too: with a multi-host URL, `read-write` finds the cluster's primary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from eventsourcing.utils import Environment, EnvType, retry

from ledger.chain import GENESIS
from ledger.recorders import RECENT_LINKS, SELECT_PREVIOUS, chain_links

APPEND = (
    "SELECT notification_id FROM ledger_append_events(%s, %s, %s, %s, %s, %s, %s) "
    "AS appended(notification_id)"
)
READABLE = "SELECT ledger_readable_position() AS position"
LANDED = (
    "SELECT e.originator_id, e.originator_version, e.state, e.notification_id "
    "FROM ledger_events e JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, version) "
    "ON e.originator_id = k.id AND e.originator_version = k.version "
    "ORDER BY e.notification_id"
)
NEWER_EVENTS = (
    "SELECT e.originator_id, e.originator_version, e.topic, e.state "
    "FROM ledger_events e JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, version) "
    "ON e.originator_id = k.id AND e.originator_version > k.version "
    "ORDER BY e.originator_id, e.originator_version"
)
CONNECTION_LOST = (InterfaceError, OperationalError)
# How long a command waits for a primary to answer again (a Patroni failover takes seconds).
FAILOVER_SECONDS = 60.0
RECONNECT_PAUSE = 0.5

T = TypeVar("T")
log = logging.getLogger(__name__)


class AppendOutcomeUnknown(OperationalError):
    """The connection broke during an append, and no primary answered in time to say whether
    it committed. Never retried blindly: that could record the attempt twice."""


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    # A position once readable stays readable (nothing can still be filled in below it), so a
    # reader whose stop lies at or below the highest one seen need not ask again: a rebuild's
    # every batch, an export's cut.
    _readable_seen = 0

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        if not stored_events:
            return []
        links = chain_links(stored_events, self._stored_link)
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
            [each.recorded_at for each in links],
            [each.subject_id for each in links],
            [each.chain_hash for each in links],
        )
        positions = self._append_exactly_once(stored_events, columns)
        RECENT_LINKS.committed(links)
        return positions

    def _append_exactly_once(
        self, stored_events: Sequence[StoredEvent], columns: tuple[list[Any], ...]
    ) -> list[int]:
        deadline = time.monotonic() + FAILOVER_SECONDS
        while True:
            try:
                with self.datastore.get_connection() as conn:  # autocommit: one transaction
                    rows = conn.execute(APPEND, columns, prepare=True).fetchall()
                return [row["notification_id"] for row in rows]
            except CONNECTION_LOST as lost:
                log.warning("the connection broke during an append (%s); checking the store", lost)
                try:
                    landed = self._until(deadline, lambda: self._landed(stored_events))
                except CONNECTION_LOST as still:
                    raise AppendOutcomeUnknown(str(still)) from lost
                if landed is not None:
                    return landed
                if time.monotonic() > deadline:
                    raise
                log.warning("the append did not land; appending again")

    def _landed(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of these events if the store holds them (all or none: they were one
        transaction), None if it holds none. Other events at their versions mean another
        writer recorded there first: a conflict, and the command runs again."""
        with self.datastore.get_connection() as conn:
            rows = conn.execute(
                LANDED,
                (
                    [e.originator_id for e in stored_events],
                    [e.originator_version for e in stored_events],
                ),
            ).fetchall()
        if not rows:
            return None
        ours = {(UUID(str(e.originator_id)), e.originator_version): e.state for e in stored_events}
        theirs = {
            (row["originator_id"], row["originator_version"]): bytes(row["state"]) for row in rows
        }
        if theirs != ours:
            raise IntegrityError("another writer recorded at these versions first")
        return [row["notification_id"] for row in rows]

    @staticmethod
    def _until(deadline: float, call: Callable[[], T]) -> T:
        """`call`, again after a pause while the connection is lost, until `deadline`."""
        while True:
            try:
                return call()
            except CONNECTION_LOST:
                if time.monotonic() > deadline:
                    raise
                time.sleep(RECONNECT_PAUSE)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_newer_events(self, versions: dict[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """Each stream's events after the version given, for several streams in one statement
        (a cached aggregate brought up to date costs no round trip of its own)."""
        newer: dict[UUID, list[StoredEvent]] = {stream: [] for stream in versions}
        with self.datastore.get_connection() as conn:
            rows = conn.execute(
                NEWER_EVENTS, (list(versions), list(versions.values())), prepare=True
            ).fetchall()
        for row in rows:
            stream = UUID(str(row["originator_id"]))
            newer[stream].append(
                StoredEvent(
                    originator_id=stream,
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
        return newer

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def max_notification_id(self) -> int | None:
        """The highest position every reader may rely on: nothing at or below it is in flight."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(READABLE, prepare=True).fetchone()
        position: int | None = None if row is None else row["position"]
        if position is not None and position > self._readable_seen:
            self._readable_seen = position
        return position

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """As the library's, but never past the readable position."""
        known = stop is not None and stop <= self._readable_seen
        readable = stop if known else self.max_notification_id()
        if readable is None:
            return []
        notifications: Sequence[Notification] = super().select_notifications(
            start,
            limit,
            readable if stop is None else min(stop, readable),
            topics,
            inclusive_of_start=inclusive_of_start,
        )
        return notifications

    def _stored_link(self, stream: UUID, version: int) -> bytes:
        with self.datastore.get_connection() as conn:
            row = conn.execute(SELECT_PREVIOUS.format(p="%s"), (str(stream), version)).fetchone()
        return GENESIS if row is None else bytes(row["chain_hash"])


class LedgerPostgresFactory(PostgresFactory):
    """The library's factory; its pool's connections also carry `target_session_attrs`, which
    the library's datastore does not take (it passes host and port lists through as given)."""

    POSTGRES_TARGET_SESSION_ATTRS = "POSTGRES_TARGET_SESSION_ATTRS"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        attrs = self.env.get(self.POSTGRES_TARGET_SESSION_ATTRS)
        kwargs = self.datastore.pool.kwargs
        if attrs and isinstance(kwargs, dict):  # the pool opens on first use: not yet
            kwargs["target_session_attrs"] = attrs
