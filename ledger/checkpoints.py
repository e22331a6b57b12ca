"""Signed checkpoints over the whole log, like CloudTrail digests or a Merkle log's tree heads.

The log hash folds every event's chain link, in the order events were recorded:
    log_n = SHA-256(log_{n-1} || notification id (8 bytes, big-endian) || link_n)
A checkpoint signs (notification id, log hash). Someone with write access to the database can
rewrite events and recompute their links, but cannot sign: the next verification finds the
checkpoint no longer matches. Someone who also deletes the checkpoints from the database still
meets the newest one in its anchor file, kept beside the signing key, outside the database, and
named by the store's identity (store_identity.py). The anchor only ever moves on to a checkpoint
whose log passes through the one it holds: a checkpoint signed after history was rewritten and
the checkpoints deleted never replaces it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.clock import parse_stored_instant, stored_instant
from ledger.database import Database, Transaction
from ledger.private_files import open_private

CHECKPOINT_EVERY = 100  # events between automatic checkpoints
log = logging.getLogger(__name__)


def fold(log_hash: bytes, notification_id: int, link: bytes) -> bytes:
    return hashlib.sha256(log_hash + notification_id.to_bytes(8, "big") + link).digest()


def checkpoint_message(notification_id: int, log_hash: bytes) -> bytes:
    return b"flero-ledger checkpoint v1\n" + notification_id.to_bytes(8, "big") + log_hash


@dataclass(frozen=True)
class Checkpoint:
    notification_id: int
    log_hash: bytes
    signature: bytes


class AnchorUnreadable(Exception):
    """The anchor file is there but cannot be read as a checkpoint (damaged, or no access)."""


class CheckpointAnchor:
    """The newest signed checkpoint, also kept in a file outside the database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Checkpoint | None:
        """The kept checkpoint; None when there is no file."""
        try:
            kept = json.loads(self.path.read_text())
            return Checkpoint(
                int(kept["notification_id"]),
                bytes.fromhex(kept["log_hash"]),
                base64.b64decode(kept["signature"], validate=True),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise AnchorUnreadable(
                f"the checkpoint anchor {self.path} cannot be read ({type(error).__name__}: "
                f"{error})"
            ) from None

    def keep(self, checkpoint: Checkpoint, extends: Callable[[Checkpoint], bool]) -> None:
        """Replace the file with a newer checkpoint, if `extends` says its log passes through
        the one kept; never with an older one. What cannot be replaced stays as it is, for
        `verify --store` to report."""
        try:
            kept = self.read()
        except AnchorUnreadable as error:
            log.warning("%s; it was left as it is", error)
            return
        if kept is not None and kept.notification_id >= checkpoint.notification_id:
            return
        if kept is not None and not extends(kept):
            log.warning(
                "the log no longer passes through the checkpoint at event %d kept in %s: it "
                "was left as it is (run `flero-ledger verify --store`)",
                kept.notification_id,
                self.path,
            )
            return
        self.write(checkpoint)

    def write(self, checkpoint: Checkpoint) -> None:
        """Replace the file (atomically) with this checkpoint."""
        document = {
            "notification_id": checkpoint.notification_id,
            "log_hash": checkpoint.log_hash.hex(),
            "signature": base64.b64encode(checkpoint.signature).decode(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            draft = self.path.with_name(self.path.name + ".new")
            with open_private(draft, overwrite=True) as file:
                file.write(json.dumps(document).encode() + b"\n")
            os.replace(draft, self.path)
        except OSError as error:  # the checkpoint itself is in the database already
            log.warning("could not keep the checkpoint anchor in %s: %s", self.path, error)


def latest_checkpoint(database: Database) -> Checkpoint | None:
    with database.transaction() as tx:
        row = tx.fetchone(
            "SELECT notification_id, log_hash, signature FROM ledger_checkpoints "
            "ORDER BY notification_id DESC LIMIT 1"
        )
    return None if row is None else Checkpoint(int(row[0]), bytes(row[1]), bytes(row[2]))


def latest_checkpoint_signed_at(database: Database) -> datetime | None:
    """When the newest checkpoint was signed (None before the first): its age tells an operator
    whether checkpoints still keep up with the log."""
    with database.transaction() as tx:
        row = tx.fetchone(
            "SELECT signed_at FROM ledger_checkpoints ORDER BY notification_id DESC LIMIT 1"
        )
    return None if row is None else parse_stored_instant(str(row[0]))


def all_checkpoints(database: Database) -> list[Checkpoint]:
    with database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT notification_id, log_hash, signature FROM ledger_checkpoints "
            "ORDER BY notification_id"
        )
    return [Checkpoint(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]


def take_checkpoint(
    database: Database,
    key: Ed25519PrivateKey,
    at: datetime,
    anchor: CheckpointAnchor,
    up_to: int,
) -> Checkpoint | None:
    """Extend the last checkpoint's log hash over the links recorded since, up to position
    `up_to` (the store's readable position: on PostgreSQL a later position may commit before
    an earlier one), sign it, and keep it in the anchor file too.

    Returns the newest checkpoint (None while the ledger is empty)."""
    taken = _sign_next(database, key, at, up_to)
    if taken is not None:
        anchor.keep(taken, lambda kept: _passes_through(database, kept, taken))
    return taken


def _fold_links(
    tx: Transaction, log_hash: bytes, after: int, up_to: int = 2**63 - 1
) -> tuple[int, bytes]:
    """The log hash folded on over the links recorded after position `after` (up to `up_to`),
    and the last position folded."""
    links = tx.fetchall(
        "SELECT notification_id, chain_hash FROM ledger_chain "
        "WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id",
        (after, up_to),
    )
    position = after
    for notification_id, link in links:
        position = int(notification_id)
        log_hash = fold(log_hash, position, bytes(link))
    return position, log_hash


def _passes_through(database: Database, kept: Checkpoint, newer: Checkpoint) -> bool:
    """Whether the log `newer` signs passes through `kept`: folded on from `kept` over the
    links recorded since, it comes to `newer`'s log hash."""
    with database.transaction() as tx:
        _, log_hash = _fold_links(tx, kept.log_hash, kept.notification_id, newer.notification_id)
    return log_hash == newer.log_hash


def _sign_next(
    database: Database, key: Ed25519PrivateKey, at: datetime, up_to: int
) -> Checkpoint | None:
    last = latest_checkpoint(database)
    log_hash, start = (bytes(32), 0) if last is None else (last.log_hash, last.notification_id)
    with database.transaction() as tx:
        position, log_hash = _fold_links(tx, log_hash, start, up_to)
        if position == start:
            return last
        signature = key.sign(checkpoint_message(position, log_hash))
        tx.execute(
            "INSERT INTO ledger_checkpoints (notification_id, log_hash, signed_at, signature) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING",
            (position, log_hash, stored_instant(at), signature),
        )
    return Checkpoint(position, log_hash, signature)


def checkpoint_if_due(
    database: Database, key: Ed25519PrivateKey, head: int, at: datetime, anchor: CheckpointAnchor
) -> None:
    """Sign a new checkpoint once CHECKPOINT_EVERY events have been recorded since the last."""
    last = latest_checkpoint(database)
    if head - (last.notification_id if last else 0) >= CHECKPOINT_EVERY:
        take_checkpoint(database, key, at, anchor, up_to=head)
