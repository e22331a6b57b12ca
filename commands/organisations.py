"""Organisation use cases: create one, require MFA, configure SSO, appoint admins."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator

from commands.inputs import Actor, ClientId, Domain, Email, IssuerUrl, Name, Slug
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import identity
from ledger.errors import NotInOrganisation, OrganisationAlreadyExists
from ledger.events import Stamp
from ledger.mfa_requirement import DEFAULT_GRACE_DAYS, MAX_GRACE_DAYS, MfaMethods
from ledger.organisation import Organisation, ProviderSettings, SsoMfaMode
from ledger.sso_domain import SsoDomain


class CreateOrganisation(Actor):
    slug: Slug


class RequireMfa(Actor):
    slug: Slug
    required: bool
    grace_days: Annotated[int, Field(ge=0, le=MAX_GRACE_DAYS)] = DEFAULT_GRACE_DAYS
    methods: MfaMethods = "any"


class ConfigureSso(Actor):
    slug: Slug
    idp: Name
    mfa_mode: SsoMfaMode
    enforced: bool
    issuer: IssuerUrl
    client_id: ClientId
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    pinned_keys: str | None = None  # a JWKS document, for a provider that cannot be reached
    domains: tuple[Domain, ...] = ()  # e-mail domains whose people "Sign in with SSO" sends here

    @field_validator("pinned_keys")
    @classmethod
    def _public_key_set(cls, document: str | None) -> str | None:
        if document is None:
            return None
        from ledger.identity_provider import parse_key_set  # only now: JOSE is slow to import

        parse_key_set(document)  # ValueError: not a set of public keys
        return document


class AddAdmin(Actor):
    slug: Slug
    email: Email


@retry_on_conflict
def create_organisation(services: Services, cmd: CreateOrganisation) -> UUID:
    org_id = identity.organisation_id(cmd.slug)
    if services.store.app.find_organisation(org_id) is not None:
        raise OrganisationAlreadyExists(cmd.slug)
    org = Organisation.create(org_id, cmd.slug, services.stamp(cmd))
    services.save(org)
    return org_id


@retry_on_conflict
def require_mfa(services: Services, cmd: RequireMfa) -> None:
    org = services.store.organisation(cmd.slug)
    org.require_mfa(cmd.required, cmd.grace_days, cmd.methods, services.stamp(cmd))
    services.save(org)


@retry_on_conflict
def configure_sso(services: Services, cmd: ConfigureSso) -> None:
    org = services.store.organisation(cmd.slug)
    provider = ProviderSettings(cmd.issuer, cmd.client_id, cmd.client_secret, cmd.pinned_keys)
    stamp = services.stamp(cmd)
    domains = tuple(sorted(set(cmd.domains)))
    claims = _claim_domains(services, org, domains, stamp)
    org.configure_sso(cmd.idp, cmd.mfa_mode, cmd.enforced, provider, domains, stamp)
    services.save(org, *claims)


def _claim_domains(
    services: Services, org: Organisation, domains: tuple[str, ...], stamp: Stamp
) -> list[SsoDomain]:
    """Claim the new domains for the organisation and release those it no longer names;
    DomainTaken when another organisation holds one."""
    changed = []
    for domain in sorted(set(domains) | set(org.sso_domains)):
        domain_id = identity.sso_domain_id(domain)
        claim = services.store.app.find_sso_domain(domain_id)
        if claim is None:
            claim = SsoDomain.claim_new(domain_id, domain, org.id, stamp)
        elif domain in domains:
            claim.claim(org.id, stamp)
        else:
            claim.release(org.id, stamp)
        changed.append(claim)
    return changed


@retry_on_conflict
def add_admin(services: Services, cmd: AddAdmin) -> None:
    org = services.store.organisation(cmd.slug)
    account = services.store.account(cmd.email)
    if account.org_id != org.id:
        raise NotInOrganisation(f"{cmd.email} does not belong to organisation {cmd.slug!r}")
    org.add_admin(account.id, services.stamp(cmd))
    services.save(org)
