"""Which account an identity at an OpenID provider belongs to: one stream per (issuer, subject).

The first SSO sign-in binds the account to the provider's subject and records it here too, so
that the binding holds in both directions: the account accepts no other subject, and no other
account can take this one, even when the provider later changes the person's e-mail address.
"""

from __future__ import annotations

from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, Stamp


class SsoIdentity(LedgerAggregate):
    class Bound(LedgerCreatedEvent):
        account_id: UUID

    def __init__(self, account_id: UUID) -> None:
        self.account_id = account_id

    @classmethod
    def bind(cls, identity_id: UUID, account_id: UUID, stamp: Stamp) -> SsoIdentity:
        return cls._create(
            cls.Bound,
            id=identity_id,
            account_id=account_id,
            timestamp=stamp.at,
            **stamp.context_fields(account_id),
        )
