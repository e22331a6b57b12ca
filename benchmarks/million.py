"""A ledger of a million events on PostgreSQL, generated in bulk, rebuilt and verified.

The events are the real domain's: API-key sign-ins of a few hundred accounts (an account event
and a new session each), decided by `Account.log_in` as `build_ci_history` does. Only the
writing is bulk: each batch is sent with COPY into `ledger_events` and `ledger_chain`, linked
(`chain.link`) and time-indexed (`chain.time_index`) as the recorder would, at positions
drawn from the event table's own sequence, so that `verify --store` finds the ledger intact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from benchmarks.scenarios import T0, Add, _rebuild_in_child, _verify_seconds
from commands import api_keys, organisations, users
from commands.clients import describe_client
from commands.services import Services
from ledger.chain import GENESIS, link, time_index
from ledger.clock import FixedClock
from ledger.events import Context, Stamp
from ledger.sign_in import SignInAttempt
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation
from projections.catalogue import runner_for

ACCOUNTS = 300
SIGN_INS_PER_COPY = 2_500  # two events each: one COPY of 5,000 events and links per batch
IP = "81.2.69.160"
UA = "deploy-bot/1.0 (linux)"


@dataclass
class Signer:
    """One account of the generated ledger, and the head of its chain."""

    account: Any
    attempt: SignInAttempt
    head: bytes  # the link of the account's newest event


def build_million(url: str, events: int) -> int:
    """Append about `events` events (sign-ins, taking turns among ACCOUNTS accounts, one
    minute apart) to the ledger at `url`; returns how many were written."""
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=FixedClock(T0))
    organisations.create_organisation(services, organisations.CreateOrganisation(slug="million"))
    client = describe_client(IP, UA)
    signers = []
    for n in range(min(ACCOUNTS, max(events // 1000, 1))):
        email = f"bot{n}@million.test"
        users.create_user(services, users.CreateUser(email=email, org="million"))
        issued = api_keys.create_api_key(services, api_keys.CreateApiKey(email=email, name="d"))
        account = store.account(email)
        attempt = SignInAttempt(method="api_key", client=client, api_key=issued.secret)
        signers.append(Signer(account, attempt, _stored_head(store, account)))
    found = store.app.find_organisation(signers[0].account.org_id)
    policy = found.sso_policy() if found else None
    by_stream = {signer.account.id: signer for signer in signers}
    to_stored = store.app.mapper.to_stored_event
    written = minute = 0
    while written < events:
        stored: list[StoredEvent] = []
        for _ in range(SIGN_INS_PER_COPY):
            signer = signers[minute % len(signers)]
            minute += 1
            context = Context(ip=IP, user_agent=UA)
            stamp = Stamp(T0 + timedelta(minutes=minute), context, store.keyring)
            opened: Aggregate = signer.account.log_in(signer.attempt, policy, stamp).opened
            # In the order `app.save(account, session)` records them.
            stored += map(to_stored, signer.account.collect_events())
            stored += map(to_stored, opened.collect_events())
        written += _copy(store, stored, by_stream)
    store.close()
    return written


def _stored_head(store: LedgerStore, account: Any) -> bytes:
    with store.database.transaction() as tx:
        row = tx.fetchone(
            "SELECT chain_hash FROM ledger_chain "
            "WHERE originator_id = ? AND originator_version = ?",
            (str(account.id), account.version),
        )
    assert row is not None, "an account recorded through the ledger has its links"
    return bytes(row[0])


def _copy(store: LedgerStore, stored: Sequence[StoredEvent], signers: dict[UUID, Signer]) -> int:
    """One transaction: positions drawn from the sequence, then the events and their links."""
    conn = store.database._pg_connection()  # a benchmark's bulk writer
    with conn.transaction():
        positions = [
            row[0]
            for row in conn.execute(
                "SELECT nextval('ledger_events_notification_id_seq') FROM generate_series(1, %s)",
                (len(stored),),
            )
        ]
        with conn.cursor().copy(
            "COPY ledger_events (originator_id, originator_version, topic, state, notification_id)"
            " FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea", "int8"])
            for event, at in zip(stored, positions, strict=True):
                copy.write_row(
                    (event.originator_id, event.originator_version, event.topic, event.state, at)
                )
        with conn.cursor().copy(
            "COPY ledger_chain (notification_id, originator_id, originator_version, recorded_at,"
            " subject_id, chain_hash) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "text", "int8", "text", "text", "bytea"])
            heads: dict[UUID, bytes] = {}  # the newest link of each session in this batch
            for event, at in zip(stored, positions, strict=True):
                stream = UUID(str(event.originator_id))
                signer = signers.get(stream)
                version = event.originator_version
                if signer is not None:
                    previous = signer.head
                else:
                    previous = GENESIS if version == 1 else heads[stream]
                chained = link(previous, stream, version, event.topic, event.state)
                if signer is not None:
                    signer.head = chained
                else:
                    heads[stream] = chained
                index = time_index(event.topic, event.state)
                copy.write_row(
                    (
                        at,
                        str(stream),
                        event.originator_version,
                        index.recorded_at,
                        index.subject_id,
                        chained,
                    )
                )
    return len(stored)


def timed_build(url: str, events: int) -> tuple[float, int]:
    started = time.perf_counter()
    written = build_million(url, events)
    return time.perf_counter() - started, written


def run_million_scenario(url: str, events: int, add: Add) -> None:
    """Build (once: it takes minutes), rebuild every read model in a child process, sign the
    checkpoint a catch-up signs, then verify. The figures keep their names at any size."""
    initialise_schema(StoreLocation.parse(url))
    started = time.perf_counter()
    build_million(url, events)
    add("pg.million_build_s", "s", [time.perf_counter() - started], False)
    store = LedgerStore(StoreLocation.parse(url))
    recorded = store.event_count()
    store.close()
    seconds, rss = _rebuild_in_child(url)
    add("pg.million_rebuild", "events/s", [recorded / seconds], True)
    add("pg.million_rss", "MB", [rss], False)
    store = LedgerStore(StoreLocation.parse(url))
    runner_for(store).catch_up_all()  # the read models are level: the due checkpoint is signed
    store.close()
    add("pg.million_verify", "events/s", [recorded / _verify_seconds(url)], True)
