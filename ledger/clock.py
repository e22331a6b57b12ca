"""The one clock every rule reads, so that `--now` can move the whole ledger in time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant (`--now`, simulations, tests)."""

    def __init__(self, instant: datetime) -> None:
        self._instant = as_utc(instant)

    def now(self) -> datetime:
        return self._instant


def as_utc(instant: datetime) -> datetime:
    """Read a naive datetime as UTC; convert an aware one to UTC."""
    if instant.tzinfo is UTC:
        return instant  # events' own instants: converting them again is a third of formatting
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


# Instants the ledger accepts from users: wide enough for any real history, narrow enough that
# date arithmetic (retention windows, lock expiries, TOTP steps) never leaves what Python holds.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant (`2026-11-14T09:30:00Z`, a date alone means midnight UTC).

    Raises ValueError with a readable message for anything else.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 timestamp (e.g. 2026-11-14T09:30:00Z)"
        ) from None
    try:
        return within_range(as_utc(parsed), text)
    except OverflowError:  # a UTC offset pushing year 1 or 9999 over the edge
        raise out_of_range(text) from None


def within_range(instant: datetime, text: str) -> datetime:
    if not EARLIEST <= instant < LATEST:
        raise out_of_range(text)
    return instant


def out_of_range(text: str) -> ValueError:
    return ValueError(f"{text!r} is not between 1970 and 9000")


def format_instant(instant: datetime) -> str:
    """ISO 8601 UTC with a trailing Z, as every JSON output uses."""
    return as_utc(instant).isoformat().replace("+00:00", "Z")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_instant_ms(instant: datetime) -> str:
    """ISO 8601 UTC to the millisecond, always three digits (`2026-11-14T09:00:00.123Z`): the
    fixed width exports use, so that a SIEM parses every record alike and text sorts as time."""
    return as_utc(instant).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(instant: datetime) -> int:
    """Milliseconds since 1970-01-01 UTC, truncated as `format_instant_ms` is."""
    return (as_utc(instant) - EPOCH) // timedelta(milliseconds=1)


def parse_day(text: str) -> datetime | None:
    """Midnight UTC of a calendar date (`2026-11-14` or `20261114`); None if not a date."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return within_range(datetime(day.year, day.month, day.day, tzinfo=UTC), text)


def day_bounds(text: str, *, instants: bool = True) -> tuple[datetime, datetime]:
    """A UTC day as [midnight, next midnight); an instant (if allowed) as itself."""
    midnight = parse_day(text)
    if midnight is not None:
        return midnight, midnight + timedelta(days=1)
    if not instants:
        raise ValueError(f"{text!r} is not a date (e.g. 2026-11-14)")
    start = parse_instant(text)
    return start, start + timedelta(microseconds=1)


STORED_INSTANT = "%Y-%m-%dT%H:%M:%S.%fZ"


def stored_instant(instant: datetime) -> str:
    """Fixed-width UTC text, so that tables sort by time as text on both stores."""
    return as_utc(instant).strftime(STORED_INSTANT)


def parse_stored_instant(stored: str) -> datetime:
    return datetime.fromisoformat(stored)  # the stored form is ISO 8601 (strptime is 10x slower)


def display_instant(stored: str) -> str:
    """A stored instant as the JSON outputs show it: ISO 8601 UTC with a trailing Z."""
    return format_instant(parse_stored_instant(stored))
