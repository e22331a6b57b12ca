"""`projections run --follow`: keep read models current as events arrive.

On PostgreSQL any number of workers may run, on one machine or many: exactly one is active,
holding a session-level advisory lock; the others stand by and take over within a second of
its death (the server releases the lock when its connection drops). The active worker sleeps
on LISTEN for the event table's NOTIFY, sent by the library's recorder on every append.
SQLite cannot notify, so a worker there polls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ledger.store import EVENT_TABLE
from projections.framework import ProjectionRunner

ADVISORY_LOCK = 0x466C65726F  # "Flero": one lock for the worker that maintains read models
Announce = Callable[[str], None]


def follow_ledger(runner: ProjectionRunner, poll_seconds: float, announce: Announce) -> None:
    """Run until interrupted (Ctrl-C)."""
    try:
        if runner.store.database.postgres:
            _follow_notifications(runner, poll_seconds, announce)
        else:
            announce("active (polling the embedded store)")
            while True:
                runner.catch_up_all()
                time.sleep(poll_seconds)
    except KeyboardInterrupt:
        return


def _follow_notifications(runner: ProjectionRunner, timeout: float, announce: Announce) -> None:
    import psycopg

    loc = runner.store.location
    listener: psycopg.Connection[Any] = psycopg.connect(
        dbname=loc.pg_dbname,
        host=loc.pg_host,
        port=loc.pg_port,
        user=loc.pg_user,
        password=loc.pg_password or None,
        autocommit=True,
    )
    with listener:
        if not _try_lock(listener):
            announce("standing by: another worker is active")
            while not _try_lock(listener):
                time.sleep(min(timeout, 1.0))
        announce("active")
        listener.execute(f"LISTEN {EVENT_TABLE}")
        while True:
            runner.catch_up_all()
            for _ in listener.notifies(timeout=max(timeout, 1.0), stop_after=1):
                pass


def _try_lock(connection: Any) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK,)).fetchone()
    return bool(row and row[0])
