"""Sign-in attempts for e-mail addresses that have no account.

They are recorded too (an attacker probing for accounts is worth knowing about), each address
in its own stream so that a flood on one does not contend with any other.
"""

from __future__ import annotations

from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.sign_in import Client, Method


class UnknownAccountAttempts(LedgerAggregate):
    class Created(LedgerCreatedEvent):
        email: str  # sealed

    class LoginFailed(LedgerEvent):
        method: Method
        reason: str
        client: str  # sealed Client

    def __init__(self, email: str) -> None:
        self.email = email

    @classmethod
    def start(cls, stream_id: UUID, email: str, stamp: Stamp) -> UnknownAccountAttempts:
        return cls._create(
            cls.Created,
            id=stream_id,
            email=stamp.sealer.seal(stream_id, email),
            timestamp=stamp.at,
            **stamp.context_fields(stream_id),
        )

    def record_attempt(self, method: Method, client: Client, stamp: Stamp) -> None:
        self._record(
            self.LoginFailed,
            stamp,
            method=method,
            reason="unknown_user",
            client=client.sealed(stamp, self.id),
        )
