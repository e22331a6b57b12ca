"""API keys: created from a signed-in account (shown once), revoked at any time."""

from __future__ import annotations

from commands.inputs import Actor, Email, Label, Name
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import acting_session, require_step_up
from ledger.credentials import IssuedSecret
from ledger.errors import SsoRequired


class CreateApiKey(Actor):
    email: Email
    name: Label


class RevokeApiKey(Actor):
    email: Email
    key_id: Name


@retry_on_conflict
def create_api_key(services: Services, cmd: CreateApiKey) -> IssuedSecret:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    require_step_up(services, account, cmd, "create_api_key", stamp)
    issued = account.create_api_key(cmd.name, stamp)
    services.save(account)
    return issued


@retry_on_conflict
def revoke_api_key(services: Services, cmd: RevokeApiKey) -> None:
    account = services.store.account(cmd.email)
    account.revoke_api_key(cmd.key_id, services.stamp(cmd))
    services.save(account)


class ReauthoriseApiKey(Actor):
    email: Email
    key_id: Name


@retry_on_conflict
def reauthorise_api_key(services: Services, cmd: ReauthoriseApiKey) -> None:
    """After SSO enforcement began, a key works again once authorised from an SSO session."""
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    session = acting_session(services, account, cmd, stamp)
    if session is None:
        raise SsoRequired("authorise an API key again from a session you opened with SSO")
    account.reauthorise_api_key(cmd.key_id, session, stamp)
    services.save(account)
