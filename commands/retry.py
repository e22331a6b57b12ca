"""Optimistic concurrency, handled where the user never sees it.

Two processes may load the same account, decide, and save. The store accepts the first and
refuses the second (its event version is taken). The refused command has recorded nothing, so
it is simply run again from the start: it loads the account as it now is and decides again
(a code the other process consumed is then refused as used, a lockout counts both attempts).

The same race shows on the wall clock: a command stamped a moment before another process
recorded on the same account would land before that event, which the ledger refuses
(`clock_behind`). On the live clock that command is run again too, with a fresh stamp; an
instant the user chose with `--now` is theirs, and stays refused.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from eventsourcing.persistence import RecordConflictError

from commands.services import Services
from ledger.clock import SystemClock
from ledger.errors import ClockBehind

ATTEMPTS = 20

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def retry_on_conflict(
    command: Callable[Concatenate[Services, P], R],
) -> Callable[Concatenate[Services, P], R]:
    @functools.wraps(command)
    def run(services: Services, /, *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return command(services, *args, **kwargs)
            except (RecordConflictError, ClockBehind) as race:
                live = isinstance(services.clock, SystemClock)
                if attempt == ATTEMPTS or (isinstance(race, ClockBehind) and not live):
                    raise
                log.info("%s ran into a concurrent change; running it again", command.__name__)
                time.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 (jitter, not a secret)
        raise AssertionError("unreachable")

    return run
