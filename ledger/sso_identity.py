"""Which account an identity at an OpenID provider belongs to: one stream per (issuer, subject).

The first SSO sign-in binds the account to the provider's subject and records it here too, so
that the binding holds in both directions: the account accepts no other subject, and no other
account can take this one, even when the provider later changes the person's e-mail address.
Only erasure ends a binding: the erased account is gone, and the next account the identity
signs in to (the address's new one) takes it over.
"""

from __future__ import annotations

from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.errors import LedgerError
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp


class SsoIdentity(LedgerAggregate):
    class Bound(LedgerCreatedEvent):
        account_id: UUID

    class TakenOver(LedgerEvent):
        """The account it was bound to was erased; this one signed in with it since."""

        account_id: UUID

        def apply(self, identity: SsoIdentity) -> None:
            identity.account_id = self.account_id

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

    def take_over(self, account_id: UUID, bound_account_erased: bool, stamp: Stamp) -> None:
        if not bound_account_erased:
            raise LedgerError("this identity at the IdP belongs to another account")
        self.check_clock(stamp.at)
        # Who acted, and from where, is sealed under the new account's key, as `bind` does.
        fields = stamp.context_fields(account_id)
        self.trigger_event(self.TakenOver, timestamp=stamp.at, account_id=account_id, **fields)
