"""Tamper evidence: every stored event is linked to the one before it in its stream.

link_n = SHA-256(link_{n-1} || aggregate id (16 bytes) || version (8 bytes) || topic length
                 (4 bytes) || topic || stored state bytes)

Integers are unsigned big-endian; version 1 links to 32 zero bytes. docs/FORMAT.md gives every
byte, for whoever verifies a store without this code. The topic's length counts characters,
which are its bytes because topics are ASCII.

Each aggregate has its own chain, so appends to different accounts never wait for each other.
The chains are tied together by signed checkpoints over the whole log (see checkpoints.py).
The stored bytes are hashed exactly as recorded, and personal data in them is sealed: erasing
an account destroys its key, never an event, so the chain still verifies afterwards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from uuid import UUID

from ledger.clock import parse_instant, stored_instant

GENESIS = bytes(32)


def link(previous: bytes, originator_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    digest = hashlib.sha256(previous)
    digest.update(originator_id.bytes)
    digest.update(version.to_bytes(8, "big"))
    digest.update(len(topic).to_bytes(4, "big"))
    digest.update(topic.encode())
    digest.update(state)
    return digest.digest()


# Streams that belong to an account without being the account's own stream (a session's):
# the time index also files their events under that account, so that `timeline`, `state` and
# exports find them. Topic prefix -> the state's field naming the account.
SUBJECT_FIELDS = {"ledger.session:Session.": "account_id"}


@dataclass(frozen=True)
class ChainLink:
    """What the recorder writes beside each event, in the same transaction."""

    originator_id: UUID
    originator_version: int
    recorded_at: str  # the event's own timestamp, as stored instants are
    subject_id: str | None  # the account it belongs to, when that is another stream
    chain_hash: bytes


@dataclass(frozen=True)
class TimeIndex:
    recorded_at: str
    subject_id: str | None


def time_index(topic: str, state: bytes) -> TimeIndex:
    """The event's timestamp (and account, see SUBJECT_FIELDS), read from its canonical JSON.

    Empty for a state that is not a ledger event: the recorder stores whatever it is given,
    as the library's recorder contract asks, and such a row is simply absent from time queries.
    """
    try:
        fields = json.loads(state)
        at = stored_instant(parse_instant(fields["timestamp"]))
    except (ValueError, TypeError, KeyError):
        return TimeIndex("", None)
    subject = next((fields.get(f) for p, f in SUBJECT_FIELDS.items() if topic.startswith(p)), None)
    return TimeIndex(at, str(subject) if subject else None)
