"""The organisation aggregate: its MFA policy, its SSO set-up and its admins."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp

SsoMfaMode = Literal["idp", "flero", "both"]


class Organisation(LedgerAggregate):
    class Event(LedgerEvent):
        pass

    class Created(LedgerCreatedEvent, Event):
        slug: str

    class MfaRequirementChanged(Event):
        required: bool

        def apply(self, org: Organisation) -> None:
            org.requires_mfa = self.required

    class SsoConfigured(Event):
        idp: str
        mfa_mode: SsoMfaMode
        enforced: bool

        def apply(self, org: Organisation) -> None:
            org.sso = {"idp": self.idp, "mfa_mode": self.mfa_mode, "enforced": self.enforced}

    class AdminAdded(Event):
        account_id: UUID

        def apply(self, org: Organisation) -> None:
            org.admins.append(self.account_id)

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.requires_mfa = False
        self.sso: dict[str, Any] | None = None
        self.admins: list[UUID] = []

    @classmethod
    def create(cls, org_id: UUID, slug: str, stamp: Stamp) -> Organisation:
        fields = stamp.context_fields(org_id)
        return cls._create(cls.Created, id=org_id, slug=slug, timestamp=stamp.at, **fields)

    def require_mfa(self, required: bool, stamp: Stamp) -> None:
        self._record(self.MfaRequirementChanged, stamp, required=required)

    def configure_sso(
        self,
        idp: str,
        mfa_mode: SsoMfaMode,
        enforced: bool,
        stamp: Stamp,
    ) -> None:
        self._record(self.SsoConfigured, stamp, idp=idp, mfa_mode=mfa_mode, enforced=enforced)

    def add_admin(self, account_id: UUID, stamp: Stamp) -> None:
        self.check_clock(stamp.at)  # refused when back-dated, even if nothing would change
        if account_id not in self.admins:
            self._record(self.AdminAdded, stamp, account_id=account_id)
