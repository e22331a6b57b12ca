"""Failed sign-ins per source address, across every account: the per-source throttle.

One stream per source (an IPv4 address, or an IPv6 /64, which one subscriber usually holds
whole). Every failed sign-in from it is counted here, in the same save as the attempt itself,
so the throttle is derived from recorded events like the per-account lockout: it survives
restarts, replays the same, and shows in exports. After 100 failures within 24 hours the source
is refused (`too_many_attempts`) before any password is hashed, until the oldest of those
failures is a day old. Refused attempts are not counted: waiting is what clears the window.

Requests to text a sign-in code (ledger.sms_code_requests) are counted here too, whatever
address they name: at most 50 in 24 hours from one source, and none while its sign-ins are
throttled, so that one machine cannot run up the bill across every account with a phone.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.errors import TooManyTexts
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.lockout import FAILURES_PER_WINDOW, WINDOW
from ledger.rate_limits import RateLimit, remember
from ledger.sign_in import THROTTLED, THROTTLED_MESSAGE

TEXTS_PER_SOURCE = RateLimit(50, timedelta(hours=24))
TOO_MANY_FROM_THE_SOURCE = (
    "too many sign-in codes were asked for from your network: try again later"
)


def source_of(ip: str) -> str:
    """The address's source: itself for IPv4, its /64 network for IPv6."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class SignInSource(LedgerAggregate):
    # The requests to text a code counted lately. A class default: a snapshot taken before
    # they were counted has none. Only ever reassigned.
    recent_texts: tuple[datetime, ...] = ()

    class Created(LedgerCreatedEvent):
        source: str  # sealed

    class FailureCounted(LedgerEvent):
        """One failed sign-in from the source. It names no account: the attempt itself is on
        the account's stream, so erasing the account leaves no link from this address to it."""

        reason: str

        def apply(self, source: SignInSource) -> None:
            recent = [t for t in source.recent_failures if t > self.timestamp - WINDOW]
            source.recent_failures = [*recent, self.timestamp][-FAILURES_PER_WINDOW:]

    class SmsCodeRequestCounted(LedgerEvent):
        """One request to text a sign-in code, let through; like a failure, it names no
        account."""

        def apply(self, source: SignInSource) -> None:
            source.recent_texts = remember([TEXTS_PER_SOURCE], source.recent_texts, self.timestamp)

    def __init__(self, source: str) -> None:
        self.source = source
        self.recent_failures: list[datetime] = []

    @classmethod
    def first_seen(cls, stream_id: UUID, source: str, stamp: Stamp) -> SignInSource:
        return cls._create(
            cls.Created,
            id=stream_id,
            source=stamp.sealer.seal(stream_id, source),
            timestamp=stamp.at,
        )

    def throttled_for(self, at: datetime) -> int | None:
        """Seconds until this source may try again, or None when it may now."""
        recent = [t for t in self.recent_failures if t > at - WINDOW]
        if len(recent) < FAILURES_PER_WINDOW:
            return None
        return max(1, math.ceil((recent[-FAILURES_PER_WINDOW] + WINDOW - at).total_seconds()))

    def count_failure(self, reason: str, stamp: Stamp) -> bool:
        """Count one failed attempt; False when there was nothing to count.

        A refusal by the throttle itself is not counted, nor an attempt back-dated (`--now`)
        before this source's last count: a simulation, which a source's history cannot take."""
        if reason == THROTTLED or stamp.at < self.modified_on:
            return False
        self.trigger_event(self.FailureCounted, timestamp=stamp.at, reason=reason)
        return True

    def texting_refusal(self, at: datetime) -> TooManyTexts | None:
        """Why a request from this source to text a code is refused at `at`, or None."""
        failures = self.throttled_for(at)
        if failures is not None:
            return TooManyTexts(THROTTLED_MESSAGE, failures)
        wait = TEXTS_PER_SOURCE.wait(self.recent_texts, at)
        return TooManyTexts(TOO_MANY_FROM_THE_SOURCE, wait) if wait else None

    def count_sms_code_request(self, stamp: Stamp) -> None:
        """Count one request let through (not one back-dated before this source's last count)."""
        if stamp.at >= self.modified_on:
            self.trigger_event(self.SmsCodeRequestCounted, timestamp=stamp.at)
