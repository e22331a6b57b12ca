"""Sign-in attempts for e-mail addresses that have no account.

They are recorded too (an attacker probing for accounts is worth knowing about), each address
in its own stream so that a flood on one does not contend with any other. To give nothing away,
such an address behaves like an account nobody can sign in to: it even locks out the same way.
"""

from __future__ import annotations

from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.lockout import Lockout
from ledger.session import Method
from ledger.sign_in import THROTTLED, Client

UNKNOWN_USER = "unknown_user"
LOCKED_OUT = "locked_out"


class UnknownAccountAttempts(LedgerAggregate):
    class Created(LedgerCreatedEvent):
        """The first attempt for this address (every attempt is exactly one event)."""

        email: str  # sealed
        method: Method
        reason: str
        client: str  # sealed Client

        def apply(self, attempts: UnknownAccountAttempts) -> None:
            attempts.count(self.reason, self)

    class Attempted(LedgerEvent):
        method: Method
        reason: str
        client: str  # sealed Client

        def apply(self, attempts: UnknownAccountAttempts) -> None:
            attempts.count(self.reason, self)

    def __init__(self, email: str) -> None:
        self.email = email
        self.lockout = Lockout()

    def count(self, reason: str, event: LedgerEvent) -> None:
        if reason not in (LOCKED_OUT, THROTTLED):
            self.lockout.count_failure(event.timestamp)

    @classmethod
    def first_attempt(
        cls,
        stream_id: UUID,
        email: str,
        method: Method,
        client: Client,
        stamp: Stamp,
        throttled: bool = False,
    ) -> UnknownAccountAttempts:
        return cls._create(
            cls.Created,
            id=stream_id,
            email=stamp.sealer.seal(stream_id, email),
            method=method,
            reason=THROTTLED if throttled else UNKNOWN_USER,
            client=client.sealed(stamp, stream_id),
            timestamp=stamp.at,
            **stamp.context_fields(stream_id),
        )

    def attempt(self, method: Method, client: Client, stamp: Stamp, throttled: bool = False) -> str:
        """Record one more attempt; returns its reason (`unknown_user`, `locked_out`, or
        `too_many_attempts` when its source is throttled)."""
        reason = LOCKED_OUT if self.lockout.is_locked(stamp.at) else UNKNOWN_USER
        reason = THROTTLED if throttled else reason
        self._record(
            self.Attempted,
            stamp,
            method=method,
            reason=reason,
            client=client.sealed(stamp, self.id),
        )
        return reason
