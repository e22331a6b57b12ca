"""Organisation use cases: create one, require MFA, configure SSO, appoint admins."""

from __future__ import annotations

from uuid import UUID

from commands.inputs import Actor, Email, Name, Slug
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import identity
from ledger.errors import NotInOrganisation, OrganisationAlreadyExists
from ledger.organisation import Organisation, SsoMfaMode


class CreateOrganisation(Actor):
    slug: Slug


class RequireMfa(Actor):
    slug: Slug
    required: bool


class ConfigureSso(Actor):
    slug: Slug
    idp: Name
    mfa_mode: SsoMfaMode
    enforced: bool


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
    org.require_mfa(cmd.required, services.stamp(cmd))
    services.save(org)


@retry_on_conflict
def configure_sso(services: Services, cmd: ConfigureSso) -> None:
    org = services.store.organisation(cmd.slug)
    org.configure_sso(
        cmd.idp,
        cmd.mfa_mode,
        cmd.enforced,
        services.stamp(cmd),
    )
    services.save(org)


@retry_on_conflict
def add_admin(services: Services, cmd: AddAdmin) -> None:
    org = services.store.organisation(cmd.slug)
    account = services.store.account(cmd.email)
    if account.org_id != org.id:
        raise NotInOrganisation(f"{cmd.email} does not belong to organisation {cmd.slug!r}")
    org.add_admin(account.id, services.stamp(cmd))
    services.save(org)
