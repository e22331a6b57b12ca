"""Signed checkpoints over the whole log, like CloudTrail digests or a Merkle log's tree heads.

The log hash folds every event's chain link, in the order events were recorded:
    log_n = SHA-256(log_{n-1} || notification id || link_n)
A checkpoint signs (notification id, log hash). Someone with write access to the database can
rewrite events and recompute their links, but cannot sign: the next verification finds the
checkpoint no longer matches. Someone who also deletes the checkpoints from the database still
meets the newest one in its anchor file, kept beside the signing key, outside the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.clock import stored_instant
from ledger.database import Database
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


class CheckpointAnchor:
    """The newest signed checkpoint, also kept in a file outside the database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Checkpoint | None:
        try:
            kept = json.loads(self.path.read_text())
            return Checkpoint(
                int(kept["notification_id"]),
                bytes.fromhex(kept["log_hash"]),
                base64.b64decode(kept["signature"]),
            )
        except FileNotFoundError:
            return None

    def keep(self, checkpoint: Checkpoint) -> None:
        """Replace the file with a newer checkpoint (atomically); never with an older one."""
        kept = self.read()
        if kept is not None and kept.notification_id >= checkpoint.notification_id:
            return
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


def all_checkpoints(database: Database) -> list[Checkpoint]:
    with database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT notification_id, log_hash, signature FROM ledger_checkpoints "
            "ORDER BY notification_id"
        )
    return [Checkpoint(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]


def take_checkpoint(
    database: Database, key: Ed25519PrivateKey, at: datetime, anchor: CheckpointAnchor
) -> Checkpoint | None:
    """Extend the last checkpoint's log hash over the links recorded since, sign it, and keep
    it in the anchor file too.

    Returns the newest checkpoint (None while the ledger is empty)."""
    taken = _sign_next(database, key, at)
    if taken is not None:
        anchor.keep(taken)
    return taken


def _sign_next(database: Database, key: Ed25519PrivateKey, at: datetime) -> Checkpoint | None:
    last = latest_checkpoint(database)
    log_hash, position = (bytes(32), 0) if last is None else (last.log_hash, last.notification_id)
    with database.transaction() as tx:
        links = tx.fetchall(
            "SELECT notification_id, chain_hash FROM ledger_chain WHERE notification_id > ? "
            "ORDER BY notification_id",
            (position,),
        )
        if not links:
            return last
        for notification_id, link in links:
            position = int(notification_id)
            log_hash = fold(log_hash, position, bytes(link))
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
        take_checkpoint(database, key, at, anchor)
