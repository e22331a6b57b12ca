"""Which organisation signs in the people of an e-mail domain: one stream per domain.

"Sign in with SSO" by e-mail address sends the visitor to the identity provider of the
organisation that claimed the address's domain. A domain has one such organisation at a time,
or another organisation's admin could send acme.test's people to a provider of theirs.
"""

from __future__ import annotations

from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.errors import LedgerError
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp


class DomainTaken(LedgerError):
    code = "domain_taken"


class SsoDomain(LedgerAggregate):
    class Claimed(LedgerCreatedEvent):
        domain: str
        org_id: UUID

    class Reclaimed(LedgerEvent):
        org_id: UUID

        def apply(self, domain: SsoDomain) -> None:
            domain.org_id = self.org_id

    class Released(LedgerEvent):
        def apply(self, domain: SsoDomain) -> None:
            domain.org_id = None

    def __init__(self, domain: str, org_id: UUID) -> None:
        self.domain = domain
        self.org_id: UUID | None = org_id

    @classmethod
    def claim_new(cls, domain_id: UUID, domain: str, org_id: UUID, stamp: Stamp) -> SsoDomain:
        fields = stamp.context_fields(org_id)
        return cls._create(
            cls.Claimed, id=domain_id, domain=domain, org_id=org_id, timestamp=stamp.at, **fields
        )

    def claim(self, org_id: UUID, stamp: Stamp) -> None:
        if self.org_id == org_id:
            return
        if self.org_id is not None:
            raise DomainTaken(f"{self.domain} signs in through another organisation")
        self._record(self.Reclaimed, stamp, org_id=org_id)

    def release(self, org_id: UUID, stamp: Stamp) -> None:
        if self.org_id == org_id:
            self._record(self.Released, stamp)
