"""Optimistic concurrency, handled where the user never sees it.

Two writers (threads of one server, or processes) may load the same account, decide, and save.
The store accepts the first and refuses the second: its event version is taken. The refusal has
several forms, all meaning that: the library's RecordConflictError, its IntegrityError (how both
recorders report the taken key, translated from psycopg or sqlite3), or the driver's own
unique-key violation, should a recorder ever let one through. The refused command has recorded
nothing, so it is simply run again from the start: it loads the account as it now is and decides
again (a code the other writer consumed is then refused as used, a lockout counts both attempts).

Losers go first. Under eight clients signing in to one account through `serve`, fresh requests
kept beating the ones running again, until the unluckiest ran out of attempts (HTTP 500, the
attempt unrecorded). So in a process, a command runs again holding a lock that every command
passes before it starts: none starts while a loser runs again, and losers take turns. Between
processes, where no lock reaches, a loser waits a random while up to its attempt's duration,
doubled at each further loss, so that a burst spreads out instead of colliding again at once.

The same race shows on the wall clock: a command stamped a moment before another process
recorded on the same account would land before that event, which the ledger refuses
(`clock_behind`). On the live clock that command is run again too, with a fresh stamp; an
instant the user chose with `--now` is theirs, and stays refused.

A PostgreSQL connection lost while the command ran (a failover: the primary died, another is
being promoted) leaves nothing half-recorded either: the recorder settles an append whose commit
it did not hear about before it answers (ledger/recorders_postgres.py), and gives up only with
`AppendOutcomeUnknown`, which is never run again. Anything else lost a connection before it
recorded, so the command runs again, on whichever server is primary by then.

SQLite's "database is locked" is no such race: a writer there waits for the lock (30 s, on both
of the store's connections) and its transaction begins with its write, so it means a store that
stayed locked, and is answered as unavailable.
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError, RecordConflictError

from commands import latency
from commands.services import Services
from ledger.clock import SystemClock
from ledger.errors import ClockBehind

ATTEMPTS = 20
LONGEST_WAIT = 1.0  # seconds between two attempts, at most
SQLITE_KEY_TAKEN = {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}
# Held by a command running again; re-entrant, so that a command may call another.
LOSERS_FIRST = threading.RLock()

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def retry_on_conflict(
    command: Callable[Concatenate[Services, P], R],
) -> Callable[Concatenate[Services, P], R]:
    @functools.wraps(command)
    def run(services: Services, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with latency.timed(command.__name__):
            return _run(services, *args, **kwargs)

    def _run(services: Services, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with LOSERS_FIRST:
            pass  # not while a command that lost a race runs again
        for attempt in range(1, ATTEMPTS + 1):
            started = time.monotonic()
            try:
                if attempt == 1:
                    return command(services, *args, **kwargs)
                with LOSERS_FIRST:
                    return command(services, *args, **kwargs)
            except Exception as refused:
                live = isinstance(services.clock, SystemClock)
                clock_race = isinstance(refused, ClockBehind) and live
                lost = services.store.database.postgres and is_connection_lost(refused)
                if attempt == ATTEMPTS or not (clock_race or lost or is_conflict(refused)):
                    raise
                why = "lost its connection" if lost else "ran into a concurrent change"
                log.info("%s %s; running it again", command.__name__, why)
                wait = min((time.monotonic() - started) * 2 ** (attempt - 1), LONGEST_WAIT)
                time.sleep(random.uniform(0, wait))  # noqa: S311 (jitter, not a secret)
        raise AssertionError("unreachable")

    return run


def is_connection_lost(error: Exception) -> bool:
    """Whether PostgreSQL went away before the command recorded anything."""
    if isinstance(error, (InterfaceError, OperationalError)):
        recorder = sys.modules.get("ledger.recorders_postgres")
        return recorder is None or not isinstance(error, recorder.AppendOutcomeUnknown)
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.OperationalError)


def is_conflict(error: Exception) -> bool:
    """Whether the store refused a save because another writer saved there first."""
    if isinstance(error, RecordConflictError):
        return True
    if isinstance(error, sqlite3.IntegrityError):
        return error.sqlite_errorname in SQLITE_KEY_TAKEN
    psycopg = sys.modules.get("psycopg")  # only ever loaded for PostgreSQL
    return psycopg is not None and isinstance(error, psycopg.errors.UniqueViolation)
