"""`projections run --follow`: keep read models current as events arrive.

On PostgreSQL any number of workers may run, on one machine or many: exactly one is active,
holding a session-level advisory lock; the others stand by and take over within a second of
its death (the server releases the lock when its connection drops). A worker that loses its
connection (the primary died: a failover) connects again, to whichever server is primary by
then, and carries on from the tracking positions stored there. The active worker polls
on both stores: appends send no NOTIFY (PostgreSQL would serialise their commits), and a poll
costs two short queries.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from projections.framework import ProjectionRunner

ADVISORY_LOCK = 0x466C65726F  # "Flero": one lock for the worker that maintains read models
RECONNECT_PAUSE = 1.0  # seconds between attempts to reach a primary again
Announce = Callable[[str], None]


def follow_ledger(runner: ProjectionRunner, poll_seconds: float, announce: Announce) -> None:
    """Run until interrupted: Ctrl-C, or SIGTERM (how a service manager stops a worker; and
    the only way to stop one started in the background, which ignores SIGINT)."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if runner.store.database.postgres:
            _follow_the_primary(runner, poll_seconds, announce)
        else:
            announce("active (polling the embedded store)")
            _poll(runner, poll_seconds)
    except KeyboardInterrupt:
        return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _poll(runner: ProjectionRunner, poll_seconds: float) -> None:
    while True:
        runner.catch_up_all()
        time.sleep(poll_seconds)


def _follow_the_primary(runner: ProjectionRunner, poll_seconds: float, announce: Announce) -> None:
    import psycopg
    from eventsourcing.persistence import InterfaceError, OperationalError

    lost = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)
    while True:
        try:
            _follow_as_the_active_worker(runner, poll_seconds, announce)
        except lost as error:
            announce(f"lost the connection ({type(error).__name__}); connecting again")
            time.sleep(RECONNECT_PAUSE)


def _follow_as_the_active_worker(
    runner: ProjectionRunner, poll_seconds: float, announce: Announce
) -> None:
    import psycopg

    holder: psycopg.Connection[Any] = psycopg.connect(
        runner.store.location.pg_conninfo(), autocommit=True
    )
    with holder:
        if not _try_lock(holder):
            announce("standing by: another worker is active")
            while not _try_lock(holder):
                time.sleep(min(poll_seconds, 1.0))
        announce("active")
        _poll(runner, poll_seconds)


def _try_lock(connection: Any) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK,)).fetchone()
    return bool(row and row[0])
