"""What `verify --store` accepts as an event's time index: exactly what a recorder wrote for it.

`time_index` is the rule the recorder follows. `indexed_as_usual` is the quick path verify takes
for nearly every event; whatever it accepts, `time_index` must give too, or an attacker could
write a row the quick path lets through. Stores recorded before instants were limited to
1970-9000 may hold, for an instant outside that range, what the recorders wrote then.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic_core import from_json

from ledger.chain import (
    USUAL_RECORDED_AT,
    indexed_as_usual,
    recorded_at_before_the_instant_range,
    time_index,
)
from ledger.clock import EARLIEST, LATEST, stored_instant
from ledger.mapper import canonical_json

ACCOUNT = "ledger.account:Account.WorkspaceMembershipGranted"
SESSION = "ledger.session:Session.Opened"
ADA = "5e0f4c8a-6b1d-4f7e-9a3c-2d8b1e6f0a47"
GRACE = "0b7d2e91-3c4a-4e58-b6f1-9a2c8d3e5f60"


def state(timestamp: object, **fields: object) -> bytes:
    return canonical_json({"actor_id": None, "ip": None, "timestamp": timestamp, **fields})


# Timestamps as the ledger writes them, and every near miss a hand or another parser might make.
TIMESTAMPS: list[object] = [
    "2026-11-14T09:30:00Z",
    "2026-11-14T09:30:00.123456Z",
    "2026-11-14T09:30:00.000000Z",
    "1970-01-01T00:00:00Z",
    "8999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59.999999Z",
    "9000-01-01T00:00:00Z",
    "0005-01-01T00:00:00Z",
    "2026-11-14T24:00:00Z",
    "2026-02-30T09:30:00Z",
    "2026-11-14T23:59:60Z",
    "2026-11-14T09:30:00z",
    "2026-11-14 09:30:00Z",
    " 2026-11-14T09:30:00Z",
    "2026-11-14T09:30:00,123456Z",
    "2026-11-14T09:30:00.5Z",
    "2026-11-14T09:30:00+00:00",
    "2026-11-14T10:30:00+01:00",
    "2026-11-14T09:30:00",
    "20261114T093000Z",
    "٢٠٢٦-11-14T09:30:00Z",
    "",
    None,
    1763112600,
    ["2026-11-14T09:30:00Z"],
]
# What a writer of the database might put in `recorded_at`.
RECORDED_AT: list[object] = [
    "2026-11-14T09:30:00.000000Z",
    "2026-11-14T09:30:00.123456Z",
    "2026-11-15T09:30:00.000000Z",
    "2026-11-15T00:00:00.000000Z",
    "2026-03-02T09:30:00.000000Z",
    "1970-01-01T00:00:00.000000Z",
    "8999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59.999999Z",
    "9000-01-01T00:00:00.000000Z",
    "2026-11-14T09:30:00.000000z",
    "2026-11-14T24:00:00.000000Z",
    "2026-11-14T09:30:00Z",
    "2026-11-14 09:30:00.000000Z",
    "",
    None,
    1763112600,
]
SUBJECTS: list[object] = [None, ADA, GRACE, "", 7]


@pytest.mark.parametrize("timestamp", TIMESTAMPS, ids=repr)
@pytest.mark.parametrize("topic", [ACCOUNT, SESSION])
def test_the_quick_path_accepts_nothing_the_recorders_rule_does_not_give(
    timestamp: object, topic: str
) -> None:
    for account_id in (ADA, None, "", 7):
        stored = state(timestamp, account_id=account_id)
        try:
            index = time_index(topic, stored)
        except AttributeError:  # a timestamp that is no text: the recorder fails the append
            index = None
        written = [] if index is None else [(index.recorded_at, index.subject_id)]
        # And the text a careless quick path would derive from the timestamp's digits.
        derived = [timestamp, f"{timestamp[:19]}.000000Z"] if isinstance(timestamp, str) else []
        for recorded_at in [*RECORDED_AT, *derived, *(at for at, _ in written)]:
            for subject_id in [*SUBJECTS, *(subject for _, subject in written)]:
                if indexed_as_usual(topic, stored, recorded_at, subject_id):
                    assert [(recorded_at, subject_id)] == written


@pytest.mark.parametrize(
    "timestamp",
    ["2026-11-14T09:30:00Z", "2026-11-14T09:30:00.123456Z", "1970-01-01T00:00:00Z"],
)
def test_the_timestamps_the_ledger_writes_take_the_quick_path(timestamp: str) -> None:
    account_event = state(timestamp)
    session_event = state(timestamp, account_id=ADA)
    at = time_index(ACCOUNT, account_event).recorded_at

    assert indexed_as_usual(ACCOUNT, account_event, at, None)
    assert indexed_as_usual(SESSION, session_event, at, ADA)
    assert not indexed_as_usual(ACCOUNT, account_event, at, ADA)
    assert not indexed_as_usual(SESSION, session_event, at, None)
    assert not indexed_as_usual(SESSION, session_event, at, GRACE)


def test_a_session_event_is_filed_under_its_account_and_every_other_event_under_none() -> None:
    assert time_index(SESSION, state("2026-11-14T09:30:00Z", account_id=ADA)).subject_id == ADA
    assert time_index(ACCOUNT, state("2026-11-14T09:30:00Z", account_id=ADA)).subject_id is None
    assert time_index(SESSION, state("2026-11-14T09:30:00Z")).subject_id is None


def test_the_quick_paths_range_is_the_range_of_instants_the_ledger_accepts() -> None:
    microsecond = timedelta(microseconds=1)

    assert USUAL_RECORDED_AT.fullmatch(stored_instant(EARLIEST))
    assert USUAL_RECORDED_AT.fullmatch(stored_instant(LATEST - microsecond))
    assert not USUAL_RECORDED_AT.fullmatch(stored_instant(EARLIEST - microsecond))
    assert not USUAL_RECORDED_AT.fullmatch(stored_instant(LATEST))


def test_outside_1970_9000_the_old_recorders_index_is_accepted_beside_todays_empty_one() -> None:
    """Before instants were limited (commit fa4aa7c), `--now 1960-01-01` was accepted and its
    events indexed at their instant; today's recorder leaves such an event unindexed."""
    old = state("1960-01-01T00:00:00Z")

    assert time_index(ACCOUNT, old).recorded_at == ""
    assert recorded_at_before_the_instant_range(old) == "1960-01-01T00:00:00.000000Z"
    usual = state("2026-11-14T09:30:00+01:00")
    assert recorded_at_before_the_instant_range(usual) == time_index(ACCOUNT, usual).recorded_at
    for unreadable in (b"not json", json.dumps(["a list"]).encode(), state(7), state("noon")):
        assert recorded_at_before_the_instant_range(unreadable) is None


# Where two JSON parsers may part: encodings, escapes, numbers, duplicates, what follows the value.
DOCUMENTS = [
    b'{"timestamp":"a","timestamp":"b"}',
    b'{"timestamp":"2026-11-14T09:30:00Z"} trailing',
    b'{"timestamp":"\xff"}',
    b'{"timestamp":"\\udc00"}',
    b'{"timestamp":"\\ud83d\\udd12\\u0041\\/"}',
    b'{"timestamp":"\x01"}',
    b'{"timestamp":"a\\x41"}',
    b"\xef\xbb\xbf" + b'{"timestamp":"a"}',
    '{"timestamp":"é"}'.encode("utf-16"),
    b'{"timestamp":"a",}',
    b'{"timestamp":"a","n":[1,]}',
    b'{"timestamp":"a","n":01}',
    b'{"timestamp":"a","n":1.}',
    b'{"timestamp":"a","n":NaN,"m":-Infinity,"k":1e400}',
    b'{"timestamp":"a","n":inf}',
    b' \t\r\n{"timestamp":"a"}\n ',
    b'{"timestamp":"a","n":' + b"[" * 300 + b"]" * 300 + b"}",
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=repr)
def test_the_quick_paths_parser_reads_nothing_the_recorders_parser_would_not(
    document: bytes,
) -> None:
    try:
        quick = from_json(document)
    except ValueError:
        return  # refused: the quick path leaves the event to `time_index`
    assert json.loads(document)["timestamp"] == quick["timestamp"]
