"""What every ledger aggregate shares: events stamped by the injected clock, never back-dated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from ledger.clock import format_instant
from ledger.errors import ClockBehind
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp


class LedgerAggregate(Aggregate):
    """Public methods check the rules, then `_record` an event whose `apply` only assigns.

    `apply` runs again on every replay, so it never validates, reads the clock or draws secrets.
    """

    # Pydantic bases for the events every aggregate has (the library would otherwise derive
    # dataclass ones, which do not mix with pydantic models).
    class Event(LedgerEvent):
        pass

    class Created(LedgerCreatedEvent, Event):
        pass

    def check_clock(self, at: datetime) -> None:
        refuse_back_dating(at, self.modified_on)

    def _record(self, event_class: type[LedgerEvent], stamp: Stamp, **fields: Any) -> None:
        self.check_clock(stamp.at)
        self.trigger_event(
            event_class, timestamp=stamp.at, **stamp.context_fields(self.id), **fields
        )


def refuse_back_dating(at: datetime, last_recorded: datetime) -> None:
    if at < last_recorded:
        raise ClockBehind(
            f"{format_instant(at)} is before the last event already recorded here "
            f"({format_instant(last_recorded)}); the ledger is never back-dated"
        )
