"""Account use cases: create a user, change the password, security-alert settings."""

from __future__ import annotations

from uuid import UUID

from pydantic import model_validator

from commands.inputs import Actor, Email, Name, Password, Slug
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.sessions import session_of
from commands.step_up import require_step_up
from ledger.account import Account
from ledger.passwords import hash_password


class CreateUser(Actor):
    email: Email
    org: Slug
    password: Password | None = None


class SetPassword(Actor):
    email: Email
    password: Password
    revoke_other_sessions: bool = False
    keep_session: Name | None = None

    @model_validator(mode="after")
    def keep_needs_revoke(self) -> SetPassword:
        if self.keep_session is not None and not self.revoke_other_sessions:
            raise ValueError("--keep only makes sense with --revoke-other-sessions")
        return self


class SetSecurityAlerts(Actor):
    email: Email
    on: bool


@retry_on_conflict
def create_user(services: Services, cmd: CreateUser) -> UUID:
    org = services.store.organisation(cmd.org)
    account_id = services.store.new_account_id(cmd.email)
    stamp = services.stamp(cmd)
    org.check_clock(stamp.at)
    password_hash = hash_password(cmd.password) if cmd.password else None
    account = Account.create(account_id, org.id, cmd.email, password_hash, stamp)
    services.save(account)
    return account_id


@retry_on_conflict
def set_password(services: Services, cmd: SetPassword) -> None:
    account = services.store.account(cmd.email)
    org = services.store.app.find_organisation(account.org_id)
    sso_enforced = bool(org and org.sso and org.sso["enforced"])
    stamp = services.stamp(cmd)
    require_step_up(services, account, cmd, "change_password", stamp)
    account.change_password(hash_password(cmd.password), sso_enforced, stamp)
    if cmd.revoke_other_sessions:
        keep = cmd.keep_session
        kept = session_of(services, account, keep) if keep else None
        account.sign_out_other_sessions(keep, kept, stamp, org.sso_policy() if org else None)
    services.save(account)


class DisconnectSso(Actor):
    email: Email


@retry_on_conflict
def disconnect_sso(services: Services, cmd: DisconnectSso) -> None:
    """Only an admin of the account's organisation may (otherwise you could lock yourself out)."""
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    org = services.store.app.find_organisation(account.org_id)
    by_admin = org is not None and stamp.context.actor_id in org.admins
    account.disconnect_sso(by_admin, stamp)
    services.save(account)


@retry_on_conflict
def set_security_alerts(services: Services, cmd: SetSecurityAlerts) -> None:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    require_step_up(services, account, cmd, "change_alert_settings", stamp)
    account.set_security_alerts(cmd.on, stamp)
    services.save(account)
