"""`verify --store`: recompute every link and every checkpoint, report the first tampering.

Events are read in the order they were recorded, beside their chain rows. A changed event no
longer matches its link; an event added behind the ledger's back has no link; a removed one
leaves a link without an event (or a gap in its stream); a moved one breaks its stream's order.
Whoever also rewrote the links cannot re-sign the checkpoints, whose log hash then differs.
Whoever also deleted the checkpoints meets the anchor kept outside the database; a ledger whose
read models have read past the checkpoint interval without a single checkpoint lost them too.
The time index beside each link (`recorded_at`, `subject_id`), which no hash covers, must be
what the recorder wrote for the event: moved in time or filed under another account, it would
hide the event from (or put it into) an answer as of an instant, or an account's timeline.
Last, every snapshot must be authenticated and agree with its aggregate's events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.chain import (
    GENESIS,
    indexed_as_usual,
    link,
    recorded_at_before_the_instant_range,
    time_index,
)
from ledger.checkpoints import (
    CHECKPOINT_EVERY,
    AnchorUnreadable,
    Checkpoint,
    all_checkpoints,
    checkpoint_message,
    fold,
)
from ledger.errors import VerificationIncomplete
from ledger.signing import verify_signature
from ledger.snapshot_audit import AUDITED_STORE_ENV, SnapshotProblem, first_snapshot_problem
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation

BATCH = 5000
# From this many events on, snapshots are audited in a process of their own while this one
# reads the log: on two cores the audit (a replay of every aggregate that has snapshots, often
# most of the log) then costs no time. Below, starting a process costs more than it saves.
AUDIT_APART_FROM = 50_000


@dataclass(frozen=True)
class Finding:
    # modified | inserted | deleted | reordered | misindexed | checkpoint | anchor | snapshot
    problem: str
    notification_id: int | None
    originator_id: str | None
    originator_version: int | None
    detail: str

    def describe(self) -> str:
        """`modified at event 7 (stream ... version 3): the stored event no longer ...`"""
        at = "" if self.notification_id is None else f" at event {self.notification_id}"
        if self.originator_id:
            at += f" (stream {self.originator_id} version {self.originator_version})"
        return f"{self.problem}{at}: {self.detail}"


@dataclass(frozen=True)
class IntegrityReport:
    events: int
    checkpoints: int
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


# A chain row: position, stream, version, link, and the time index as stored (recorded_at and
# subject_id, left as the database returns them: a hand edit may leave a number or bytes).
ChainRow = tuple[int, str, int, bytes, object, object]
# An event (position, stream, version, topic, state) beside its chain row, if it has one.
Linked = tuple[int, str, int, str, bytes, ChainRow | None]
CHAIN_COLUMNS = (
    "notification_id, originator_id, originator_version, chain_hash, recorded_at, subject_id"
)


def _linked(store: LedgerStore) -> Iterator[Linked]:
    """Every event in the order recorded, joined to its chain row: one server-side cursor.

    The stream's id comes as text (the chain row's own form; PostgreSQL's uuid column is cast),
    so that no UUID object is made per row: verify_store makes one per stream."""
    postgres = store.database.postgres
    at = "notification_id" if postgres else "rowid"  # the library's column
    stream = "e.originator_id::text" if postgres else "e.originator_id"
    columns = ", ".join(f"c.{name}" for name in CHAIN_COLUMNS.split(", "))
    sql = (
        f"SELECT e.{at}, {stream}, e.originator_version, e.topic, e.state, {columns} "  # noqa: S608
        f"FROM {store.event_table} e LEFT JOIN ledger_chain c ON c.notification_id = e.{at} "
        f"ORDER BY e.{at}"
    )
    for row in store.database.stream(sql, batch=BATCH):
        # Whoever edits a row by hand may leave text where bytes were: hash what is there.
        state = row[4] if isinstance(row[4], bytes) else str(row[4]).encode()
        chain = None if row[5] is None else _chain_row(row[5:])
        yield int(row[0]), str(row[1]), int(row[2]), str(row[3]), state, chain


def _first_orphan_link(store: LedgerStore) -> ChainRow | None:
    """The first chain row whose event is gone from the event table."""
    at = "notification_id" if store.database.postgres else "rowid"
    with store.database.transaction() as tx:
        row = tx.fetchone(
            f"SELECT {CHAIN_COLUMNS} FROM ledger_chain c WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT 1 FROM {store.event_table} e WHERE e.{at} = c.notification_id) "
            "ORDER BY notification_id LIMIT 1"
        )
    return None if row is None else _chain_row(row)


def _chain_row(row: Sequence[Any]) -> ChainRow:
    return int(row[0]), str(row[1]), int(row[2]), bytes(row[3]), row[4], row[5]


def verify_store(
    store: LedgerStore,
    progress: Callable[[int], None] | None = None,
    audit_apart: bool | None = None,
) -> IntegrityReport:
    """`audit_apart`: audit snapshots in another process (None: when the log is long)."""
    if audit_apart is None:
        audit_apart = (store.app.recorder.max_notification_id() or 0) >= AUDIT_APART_FROM
    if not audit_apart:
        return _verify(store, progress, lambda: first_snapshot_problem(store))
    with _audited_apart(store.location) as audit:
        return _verify(store, progress, audit)


@contextmanager
def _audited_apart(location: StoreLocation) -> Iterator[Callable[[], SnapshotProblem | None]]:
    """The snapshot audit, started in a process of its own (`python -m ledger.snapshot_audit`);
    what it found, when asked. A verify that stops early (tampering found) ends it."""
    code = str(Path(__file__).resolve().parents[1])  # where `ledger` is, installed or not
    python_path = os.pathsep.join(filter(None, [code, os.environ.get("PYTHONPATH")]))
    child = subprocess.Popen(
        # -P: the working directory is not searched first, so a `ledger` package someone left
        # there (in an export received, say) cannot stand in for this one's audit.
        [sys.executable, "-P", "-m", "ledger.snapshot_audit"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # The environment, not the command line: a password in it is no other user's to see.
        env={**os.environ, "PYTHONPATH": python_path, AUDITED_STORE_ENV: location.to_json()},
    )

    def found() -> SnapshotProblem | None:
        answer, failure = child.communicate()
        if child.returncode != 0:
            last = failure.decode(errors="replace").strip().splitlines()[-1:]
            raise VerificationIncomplete(f"snapshots could not be audited: {' '.join(last)}")
        problem = json.loads(answer)
        return problem and SnapshotProblem(**{**problem, "stream": UUID(problem["stream"])})

    try:
        yield found
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def _verify(
    store: LedgerStore,
    progress: Callable[[int], None] | None,
    audit_snapshots: Callable[[], SnapshotProblem | None],
) -> IntegrityReport:
    public_key = store.signing_public_key
    checkpoints = {c.notification_id: c for c in all_checkpoints(store.database)}
    anchored, anchor_problem = _anchor(store, bool(checkpoints))
    anchor_gone = anchored is not None and anchored.notification_id not in checkpoints
    if anchored is not None and anchor_gone:
        checkpoints[anchored.notification_id] = anchored  # still holds the log to account
    streams: dict[str, tuple[int, bytes, UUID]] = {}  # version, link, id: by id as text
    log_hash = bytes(32)
    count = 0
    seen: set[int] = set()
    orphan = _first_orphan_link(store)

    def found(
        problem: str, at: int | None, stream: object, version: int | None, detail: str
    ) -> IntegrityReport:
        return IntegrityReport(
            count,
            len(checkpoints),
            Finding(problem, at, None if stream is None else str(stream), version, detail),
        )

    def missing(link_row: ChainRow) -> IntegrityReport:
        return found(
            "deleted",
            link_row[0],
            link_row[1],
            link_row[2],
            "a recorded event is missing from the event table",
        )

    for notification_id, text, version, topic, state, pending in _linked(store):
        if orphan is not None and orphan[0] < notification_id:
            return missing(orphan)
        known = streams.get(text)
        if known is None:
            try:
                known = (0, GENESIS, UUID(text))
            except ValueError:  # the library's column holds UUIDs; SQLite's takes any text
                return found("modified", notification_id, text, version, "no stream id")
        expected_version, previous, stream = known
        if pending is None:
            return found(
                "inserted",
                notification_id,
                stream,
                version,
                "this event was never recorded through the ledger (no chain link)",
            )
        same_place = pending[2] == version and (pending[1] == text or pending[1] == str(stream))
        if version != expected_version + 1 or not same_place:
            # A gap is a deletion only where the chain agrees on what should stand here.
            problem = "deleted" if version > expected_version + 1 and same_place else "reordered"
            return found(
                problem,
                notification_id,
                stream,
                version,
                f"version {version} follows version {expected_version} of its stream",
            )
        recomputed = link(previous, stream, version, topic, state)
        if recomputed != pending[3]:
            return found(
                "modified",
                notification_id,
                stream,
                version,
                "the stored event no longer matches its chain link",
            )
        if not indexed_as_usual(topic, state, pending[4], pending[5]):
            misindexed = _index_problem(topic, state, pending[4], pending[5])
            if misindexed is not None:
                return found("misindexed", notification_id, stream, version, misindexed)
        streams[text] = (version, recomputed, stream)
        log_hash = fold(log_hash, notification_id, recomputed)
        count += 1
        if progress is not None and count % BATCH == 0:  # a progress bar's update costs µs
            progress(BATCH)
        checkpoint = checkpoints.get(notification_id)
        if checkpoint is None:
            continue
        seen.add(notification_id)
        if not (
            checkpoint.log_hash == log_hash
            and verify_signature(
                public_key, checkpoint.signature, checkpoint_message(notification_id, log_hash)
            )
        ):
            return found(
                "checkpoint",
                notification_id,
                stream,
                version,
                "the log up to this signed checkpoint was rewritten",
            )
    if orphan is not None:
        return missing(orphan)
    unseen = sorted(set(checkpoints) - seen)
    if unseen:
        return found(
            "deleted",
            unseen[0],
            None,
            None,
            "the event this signed checkpoint ends with is gone from the log",
        )
    if anchored is not None and anchor_gone:
        return found(
            "checkpoint",
            anchored.notification_id,
            None,
            None,
            "the signed checkpoint kept outside the database is missing from it (deleted)",
        )
    if anchor_problem is not None:
        return found("anchor", None, None, None, anchor_problem)
    if not checkpoints and _read_by_read_models(store) >= CHECKPOINT_EVERY:
        return found(
            "checkpoint",
            None,
            None,
            None,
            f"the read models have read past {CHECKPOINT_EVERY} events, when a checkpoint is "
            "signed, yet the ledger holds none: they were deleted",
        )
    snapshot = audit_snapshots()
    if snapshot is not None:
        return found("snapshot", None, snapshot.stream, snapshot.version, snapshot.detail)
    return IntegrityReport(count, len(checkpoints), None)


def _index_problem(topic: str, state: bytes, recorded_at: object, subject_id: object) -> str | None:
    """What differs between the stored time index and what the recorder wrote for the event
    (`time_index`; or, for an instant outside 1970-9000, what recorders wrote before that
    range was enforced), or None if they agree."""
    try:
        index = time_index(topic, state)
        before_the_range = recorded_at_before_the_instant_range(state)
    except (AttributeError, RecursionError):  # a timestamp that is no text, or nested too deep
        return "the recorder fails on this event's timestamp: it cannot have recorded it"
    written = [index.recorded_at]  # '' for an event without a timestamp in range
    if before_the_range is not None and before_the_range != index.recorded_at:
        written.append(before_the_range)
    if recorded_at not in written:
        return (
            f"the time index says it was recorded at {recorded_at!r}, but the recorder "
            f"indexes it at {' or '.join(map(repr, written))}"
        )
    if subject_id != index.subject_id:
        return (
            f"the time index files it under {_filed(subject_id)}, but the recorder files it under "
            f"{_filed(index.subject_id)}"
        )
    return None


def _filed(subject_id: object) -> str:
    return "its own stream alone" if subject_id is None else f"account {subject_id!r}"


def _anchor(store: LedgerStore, has_checkpoints: bool) -> tuple[Checkpoint | None, str | None]:
    """The checkpoint kept outside the database, or what is wrong with the anchor."""
    try:
        anchored = store.checkpoint_anchor.read()
    except AnchorUnreadable as error:
        return None, f"{error}: restore it from a copy"
    if anchored is None and has_checkpoints:
        return None, (
            f"the ledger holds signed checkpoints but no anchor is kept for them in "
            f"{store.checkpoint_anchor.path}: it was removed, or the store's identity changed"
        )
    return anchored, None


def _read_by_read_models(store: LedgerStore) -> int:
    """How far every read model has read; a checkpoint is signed as they catch up."""
    with store.database.transaction() as tx:
        row = tx.fetchone("SELECT MIN(position) FROM projection_tracking")
    return 0 if row is None or row[0] is None else int(row[0])
