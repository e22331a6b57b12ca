"""The organisation aggregate: its MFA policy, its SSO set-up and its admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from ledger.aggregate import LedgerAggregate
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.keyring import Sealer
from ledger.mfa_requirement import DEFAULT_GRACE_DAYS, MfaMethods, MfaRequirement
from ledger.sign_in import SsoPolicy

SsoMfaMode = Literal["idp", "flero", "both"]


@dataclass(frozen=True)
class ProviderSettings:
    """The organisation's registration at its OpenID provider (see ledger.identity_provider)."""

    issuer: str
    client_id: str
    client_secret: str | None = None
    pinned_keys: str | None = None  # a JWKS document, for a provider that cannot be reached


class Organisation(LedgerAggregate):
    # When SSO enforcement last began: sessions opened before it other than by SSO end, and
    # API keys authorised before it wait for their owner to authorise them again from an SSO
    # session. A class default, so that snapshots taken before it existed still load.
    sso_enforced_since: datetime | None = None
    # When the organisation last began requiring MFA, and on what terms (ledger.mfa_requirement).
    # Class defaults for snapshots taken before grace periods existed.
    mfa_required_since: datetime | None = None
    mfa_grace_days: int = DEFAULT_GRACE_DAYS
    mfa_methods: MfaMethods = "any"

    class Event(LedgerEvent):
        pass

    class Created(LedgerCreatedEvent, Event):
        slug: str

    class MfaRequirementChanged(Event):
        required: bool
        # Absent from events recorded before grace periods: such a requirement gives the
        # default grace from when it was recorded, and any factor counts.
        grace_days: int = DEFAULT_GRACE_DAYS
        methods: MfaMethods = "any"

        def apply(self, org: Organisation) -> None:
            if self.required and not org.requires_mfa:
                org.mfa_required_since = self.timestamp
            org.requires_mfa = self.required
            org.mfa_grace_days = self.grace_days
            org.mfa_methods = self.methods

    class SsoConfigured(Event):
        idp: str
        mfa_mode: SsoMfaMode
        enforced: bool
        # The OpenID provider. Absent from events recorded before SSO meant OpenID Connect:
        # such an organisation keeps its policy, but nobody signs in through it until set up.
        issuer: str | None = None
        client_id: str | None = None
        client_secret: str | None = None  # sealed
        pinned_keys: str | None = None  # a JWKS document (public keys)
        domains: tuple[str, ...] = ()  # e-mail domains whose people it signs in (ledger.sso_domain)

        def apply(self, org: Organisation) -> None:
            if self.enforced and not (org.sso and org.sso["enforced"]):
                org.sso_enforced_since = self.timestamp
            org.sso_domains = list(self.domains)
            org.sso = {"idp": self.idp, "mfa_mode": self.mfa_mode, "enforced": self.enforced}
            org.sso_provider = (
                {
                    "issuer": self.issuer,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "pinned_keys": self.pinned_keys,
                }
                if self.issuer and self.client_id
                else None
            )

    class AdminAdded(Event):
        account_id: UUID

        def apply(self, org: Organisation) -> None:
            org.admins.append(self.account_id)

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.requires_mfa = False
        self.sso: dict[str, Any] | None = None
        self.sso_provider: dict[str, str | None] | None = None
        self.sso_domains: list[str] = []
        self.admins: list[UUID] = []

    @classmethod
    def create(cls, org_id: UUID, slug: str, stamp: Stamp) -> Organisation:
        fields = stamp.context_fields(org_id)
        return cls._create(cls.Created, id=org_id, slug=slug, timestamp=stamp.at, **fields)

    def require_mfa(
        self, required: bool, grace_days: int, methods: MfaMethods, stamp: Stamp
    ) -> None:
        """Turning it on again with other terms keeps its start: deadlines move with the grace."""
        self._record(
            self.MfaRequirementChanged,
            stamp,
            required=required,
            grace_days=grace_days,
            methods=methods,
        )

    def mfa_requirement(self) -> MfaRequirement | None:
        """What the organisation requires of its members now; None when it requires nothing."""
        if not self.requires_mfa:
            return None
        sso = self.sso
        return MfaRequirement(
            # A snapshot taken before grace periods existed knows no start: its creation.
            since=self.mfa_required_since or self.created_on,
            grace=timedelta(days=self.mfa_grace_days),
            methods=self.mfa_methods,
            sso_exempts=bool(sso and sso["enforced"] and sso["mfa_mode"] == "idp"),
        )

    def configure_sso(
        self,
        idp: str,
        mfa_mode: SsoMfaMode,
        enforced: bool,
        provider: ProviderSettings,
        domains: tuple[str, ...],
        stamp: Stamp,
    ) -> None:
        secret = provider.client_secret
        self._record(
            self.SsoConfigured,
            stamp,
            idp=idp,
            mfa_mode=mfa_mode,
            enforced=enforced,
            issuer=provider.issuer,
            client_id=provider.client_id,
            client_secret=stamp.sealer.seal(self.id, secret) if secret else None,
            pinned_keys=provider.pinned_keys,
            domains=domains,
        )

    def sso_policy(self) -> SsoPolicy | None:
        if self.sso is None:
            return None
        return SsoPolicy(
            **self.sso,
            signs_in=self.sso_provider is not None,
            enforced_since=self.sso_enforced_since,
        )

    def provider_settings(self, sealer: Sealer) -> ProviderSettings | None:
        """How to reach the organisation's OpenID provider (the client secret unsealed)."""
        if self.sso_provider is None:
            return None
        provider = self.sso_provider
        secret = provider["client_secret"]
        return ProviderSettings(
            issuer=provider["issuer"] or "",
            client_id=provider["client_id"] or "",
            client_secret=sealer.open(secret) if secret else None,
            pinned_keys=provider["pinned_keys"],
        )

    def add_admin(self, account_id: UUID, stamp: Stamp) -> None:
        self.check_clock(stamp.at)  # refused when back-dated, even if nothing would change
        if account_id not in self.admins:
            self._record(self.AdminAdded, stamp, account_id=account_id)
