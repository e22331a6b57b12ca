"""At most so many in a sliding window: the arithmetic of the throttles derived from events.

The instants come from recorded events (the throttle's own stream), so a limit holds across
processes and restarts and replays the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RateLimit:
    count: int
    window: timedelta

    def wait(self, instants: Sequence[datetime], at: datetime) -> int | None:
        """Seconds until one more is allowed at `at`, or None when it is allowed now."""
        recent = [t for t in instants if t > at - self.window]
        if len(recent) < self.count:
            return None
        return max(1, math.ceil((recent[-self.count] + self.window - at).total_seconds()))


def longest_wait(limits: Sequence[RateLimit], instants: Sequence[datetime], at: datetime) -> int:
    """Seconds until every limit allows one more (0: they all do now)."""
    return max((limit.wait(instants, at) or 0 for limit in limits), default=0)


def remember(
    limits: Sequence[RateLimit], instants: Sequence[datetime], at: datetime
) -> tuple[datetime, ...]:
    """`instants` and `at`, less what no limit can count any more (bounded state)."""
    window = max(limit.window for limit in limits)
    most = max(limit.count for limit in limits)
    return tuple([t for t in instants if t > at - window] + [at])[-most:]
