"""Requests to text a sign-in code to an e-mail address: the throttle per address.

"Text me a code" on the sign-in page and `POST /api/login/sms-code` take an address and no
password, so without a limit anyone could flood an account holder's phone with texts, or run
up the bill. One stream per address, whoever holds it (an account with a phone for sign-in,
one without, or nobody): every request let through is counted here, alike for all three, so
that when asking turns into `too_many_attempts` (429) says nothing about the address either.
At most 3 requests in 10 minutes and 10 in 24 hours; the next is refused until the oldest of
them leaves its window. Refusals are not counted: waiting is what clears it.

The stream holds instants only: not the address (its id is a keyed hash of it), not where the
requests came from. An account's own stream records those, for a request that concerns it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.errors import TooManyTexts
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.rate_limits import RateLimit, longest_wait, remember

TEXTS_PER_ADDRESS = (RateLimit(3, timedelta(minutes=10)), RateLimit(10, timedelta(hours=24)))
TOO_MANY_FOR_THE_ADDRESS = "too many sign-in codes were asked for this address: try again later"


class SmsCodeRequests(LedgerAggregate):
    class Created(LedgerCreatedEvent):
        """The first request for this address (counted by the `SmsCodeRequested` beside it)."""

    class SmsCodeRequested(LedgerEvent):
        """One request let through, whatever came of it (texted or not)."""

        def apply(self, requests: SmsCodeRequests) -> None:
            requests.recent = remember(TEXTS_PER_ADDRESS, requests.recent, self.timestamp)

    def __init__(self) -> None:
        self.recent: tuple[datetime, ...] = ()

    @classmethod
    def first_seen(cls, stream_id: UUID, stamp: Stamp) -> SmsCodeRequests:
        return cls._create(cls.Created, id=stream_id, timestamp=stamp.at)

    def refusal(self, at: datetime) -> TooManyTexts | None:
        """Why one more request at `at` is refused, or None when it may go ahead."""
        wait = longest_wait(TEXTS_PER_ADDRESS, self.recent, at)
        return TooManyTexts(TOO_MANY_FOR_THE_ADDRESS, wait) if wait else None

    def count(self, stamp: Stamp) -> None:
        """Count one request let through (not one back-dated before the last: a `--now`
        simulation, which the address's history cannot take)."""
        if stamp.at >= self.modified_on:
            self.trigger_event(self.SmsCodeRequested, timestamp=stamp.at)
