"""How long commands take, told to whoever listens: the server's metrics (web.metrics) do.

Every command passes through `commands.retry.retry_on_conflict`, which times it there, its
runs again included: what the caller waited. Nobody listens in a command-line process unless
it asks, and then timing costs one clock read; the listener must be cheap too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, float], None]  # the command's name, its seconds
_listener: Listener | None = None


def report_to(listener: Listener) -> None:
    """From now on, every command's name and seconds go to `listener` (it replaces any other)."""
    global _listener  # one per process, set once by whoever serves metrics
    _listener = listener


@contextmanager
def timed(command: str) -> Iterator[None]:
    """Times the block (refused or not) for the listener, if there is one."""
    listener = _listener
    if listener is None:
        yield
        return
    began = time.perf_counter()
    try:
        yield
    finally:
        listener(command, time.perf_counter() - began)
