"""The lockout rules on their own: pure functions of the failures and successes counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.lockout import Lockout

T0 = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


def fail(lockout: Lockout, start: datetime, times: int, every: timedelta = SECOND) -> datetime:
    """`times` failures from `start`, `every` apart, each while unlocked; returns the last."""
    at = start
    for n in range(times):
        at = start + n * every
        assert not lockout.is_locked(at), f"failure {n + 1} at {at} came while locked"
        lockout.count_failure(at)
    return at


def lock_length(lockout: Lockout, locked_at: datetime) -> timedelta:
    assert lockout.locked_until is not None
    assert lockout.is_locked(lockout.locked_until - SECOND)
    assert not lockout.is_locked(lockout.locked_until)
    return lockout.locked_until - locked_at


def test_nine_failures_do_not_lock_the_tenth_does() -> None:
    lockout = Lockout()
    ninth = fail(lockout, T0, 9)
    assert not lockout.is_locked(ninth)

    lockout.count_failure(ninth + SECOND)

    assert lockout.is_locked(ninth + SECOND)
    assert lock_length(lockout, ninth + SECOND) == timedelta(minutes=15)


def test_each_further_lock_doubles() -> None:
    lockout = Lockout()
    at, lengths = T0, []
    for _ in range(5):
        tenth = fail(lockout, at, 10)
        lengths.append(lock_length(lockout, tenth))
        at = lockout.locked_until  # type: ignore[assignment]

    assert lengths == [timedelta(minutes=m) for m in (15, 30, 60, 120, 240)]


def test_the_lock_starts_at_the_tenth_failure_not_the_first() -> None:
    lockout = Lockout()
    tenth = fail(lockout, T0, 10, every=MINUTE)

    assert lockout.locked_until == tenth + timedelta(minutes=15)


def test_a_success_resets_the_count_and_the_doubling() -> None:
    lockout = Lockout()
    fail(lockout, T0, 9)
    lockout.count_success()
    ninth = fail(lockout, T0 + MINUTE, 9)
    assert not lockout.is_locked(ninth)  # 18 failures, never 10 in a row

    tenth = fail(lockout, ninth + SECOND, 1)
    first = lock_length(lockout, tenth)
    tenth = fail(lockout, lockout.locked_until, 10)  # type: ignore[arg-type]
    assert lock_length(lockout, tenth) == 2 * first

    lockout.count_success()
    assert not lockout.is_locked(tenth)
    assert lockout.consecutive_failures == 0
    tenth = fail(lockout, tenth + SECOND, 10)
    assert lock_length(lockout, tenth) == timedelta(minutes=15)  # back to the first length


def test_a_hundred_failures_in_a_day_lock_until_the_oldest_is_a_day_old() -> None:
    """NIST SP 800-63B rate limit, independent of the consecutive count.

    Nine failures then a success, over and over, five minutes apart: ten in a row never
    happens, so the doubling locks never apply. The hundredth failure within 24 hours does.
    """
    lockout = Lockout()
    at = T0
    failures = 0
    while failures < 99:
        for _ in range(min(9, 99 - failures)):
            assert not lockout.is_locked(at)
            lockout.count_failure(at)
            failures += 1
            at += 5 * MINUTE
        lockout.count_success()
    assert at - T0 < DAY
    assert not lockout.is_locked(at)

    lockout.count_failure(at)  # the hundredth in less than a day (one in a row)

    assert lockout.consecutive_failures == 1
    assert lockout.locked_until == T0 + DAY  # when the oldest counted failure is a day old
    assert lockout.is_locked(T0 + DAY - SECOND)
    assert not lockout.is_locked(T0 + DAY)


def test_failures_older_than_a_day_leave_the_window() -> None:
    """Spread out, a hundred failures never lock (a success between every nine of them)."""
    lockout = Lockout()
    at = T0
    for _ in range(12):
        for _ in range(9):
            assert not lockout.is_locked(at)
            lockout.count_failure(at)
            at += 20 * MINUTE  # 108 failures over 36 hours: never 100 in any 24
        lockout.count_success()

    assert lockout.locked_until is None
