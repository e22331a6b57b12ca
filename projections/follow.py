"""`projections run --follow`: keep read models current as events arrive.

On PostgreSQL the worker sleeps on LISTEN for the event table's NOTIFY (sent by the library's
recorder on every append); on SQLite, which cannot notify, it polls.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from ledger.store import EVENT_TABLE
from projections.framework import ProjectionRunner


def follow_ledger(runner: ProjectionRunner, poll_seconds: float) -> None:
    """Run until interrupted (Ctrl-C)."""
    try:
        if runner.store.database.postgres:
            _follow_notifications(runner, poll_seconds)
        else:
            while True:
                runner.catch_up_all()
                time.sleep(poll_seconds)
    except KeyboardInterrupt:
        return


def _follow_notifications(runner: ProjectionRunner, timeout: float) -> None:
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
        listener.execute(f"LISTEN {EVENT_TABLE}")
        while True:
            runner.catch_up_all()
            for _ in listener.notifies(timeout=max(timeout, 1.0), stop_after=1):
                pass
