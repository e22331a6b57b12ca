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
import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic_core import from_json

from ledger.clock import STORED_INSTANT, as_utc, parse_instant, stored_instant

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


def recorded_at_before_the_instant_range(state: bytes) -> str | None:
    """What the recorders wrote as `recorded_at` before instants were limited to 1970-9000
    (commit fa4aa7c): the same text, without the limit. It differs from today's only for an
    instant outside that range, which today's recorder leaves unindexed (''). None where those
    recorders failed the append instead (the event was then never recorded).
    """
    try:
        text = json.loads(state)["timestamp"]
        return as_utc(datetime.fromisoformat(text.strip())).strftime(STORED_INSTANT)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


# A stored instant (`stored_instant`) of 1970 to 8999, the range `parse_instant` accepts, with an
# hour, minute and second no parser could read as another instant (no 24:00, no leap second).
USUAL_RECORDED_AT = re.compile(
    r"(?:19[7-9][0-9]|[2-8][0-9]{3})-[0-9]{2}-[0-9]{2}"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"
)
SUBJECT_PREFIXES = tuple(SUBJECT_FIELDS)


def indexed_as_usual(topic: str, state: bytes, recorded_at: object, subject_id: object) -> bool:
    """True if `(recorded_at, subject_id)` is `time_index(topic, state)` for the usual event: a
    JSON object whose timestamp is in the form the ledger writes (`2026-11-14T09:00:00Z`, or
    with six digits of microseconds) and whose subject, if any, is text. False means only that
    this quick path cannot tell: ask `time_index`.

    `verify --store` asks this of every event, and `time_index` costs nearly as much again as
    the rest of verifying an event (it decodes with `json` and formats with `strftime`). This
    decodes with pydantic-core's parser, which accepts no document `json` rejects and reads the
    same strings from those it accepts (tests/unit/test_time_index.py holds it to that, on the
    documents where the two could part). It formats nothing: a timestamp in that form is stored as
    the same digits (with `.000000` when it has none), once they are known to be an instant
    in range (the pattern) on a real day (`fromisoformat` refuses the 30th of February).
    """
    if type(recorded_at) is not str or USUAL_RECORDED_AT.fullmatch(recorded_at) is None:
        return False
    try:
        fields = from_json(state)
        stamp = fields["timestamp"]
    except (ValueError, TypeError, KeyError):
        return False
    if stamp != recorded_at and not (
        recorded_at.endswith(".000000Z") and stamp == recorded_at[:19] + "Z"
    ):
        return False
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    subject = None
    if topic.startswith(SUBJECT_PREFIXES):
        field = next(f for prefix, f in SUBJECT_FIELDS.items() if topic.startswith(prefix))
        subject = fields.get(field)
        if subject is not None and type(subject) is not str:
            return False
    return subject_id == (subject or None)
