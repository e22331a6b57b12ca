"""Brute-force protection, derived from the recorded failures (so it survives restarts).

After 10 consecutive failures an account is locked for 15 minutes, doubling with each further
lock; a success resets that. Independently, no more than 100 failures may be tried in any 24
hours, successes in between or not (NIST SP 800-63B rate limiting): the hundredth locks until
the oldest of them is a day old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

FAILURES_PER_LOCK = 10
FIRST_LOCK = timedelta(minutes=15)
WINDOW = timedelta(hours=24)
FAILURES_PER_WINDOW = 100


@dataclass
class Lockout:
    consecutive_failures: int = 0
    locks: int = 0
    locked_until: datetime | None = None
    recent_failures: list[datetime] = field(default_factory=list)

    def is_locked(self, at: datetime) -> bool:
        return self.locked_until is not None and at < self.locked_until

    def count_failure(self, at: datetime) -> None:
        self.consecutive_failures += 1
        self.recent_failures = [t for t in self.recent_failures if t > at - WINDOW] + [at]
        if self.consecutive_failures % FAILURES_PER_LOCK == 0:
            self.locks += 1
            self._lock_until(at + FIRST_LOCK * 2 ** (self.locks - 1))
        if len(self.recent_failures) >= FAILURES_PER_WINDOW:
            self._lock_until(self.recent_failures[-FAILURES_PER_WINDOW] + WINDOW)

    def count_success(self) -> None:
        self.consecutive_failures = 0
        self.locks = 0
        self.locked_until = None

    def message(self) -> str:
        assert self.locked_until is not None
        until = self.locked_until.isoformat().replace("+00:00", "Z")
        return f"too many failed attempts: sign-in is locked until {until}"

    def _lock_until(self, until: datetime) -> None:
        if self.locked_until is None or until > self.locked_until:
            self.locked_until = until
