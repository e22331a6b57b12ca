"""Sessions: check a token (recording activity), sign one out, or all the others."""

from __future__ import annotations

from dataclasses import dataclass

from commands.inputs import Actor, CommandInput, Email, IpAddress, Name
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import credentials
from ledger.errors import UnknownSession
from ledger.events import Context


class CheckSession(CommandInput):
    token: str
    ip: IpAddress | None = None


class RevokeSession(Actor):
    email: Email
    session_id: Name


class RevokeOtherSessions(Actor):
    email: Email
    keep: Name


@dataclass(frozen=True)
class ActiveSession:
    session_id: str
    email: str


@retry_on_conflict
def check_session(services: Services, cmd: CheckSession) -> ActiveSession:
    claimed = credentials.read_session_token(cmd.token)
    account = services.store.app.find_account(claimed.account_id) if claimed else None
    if claimed is None or account is None or account.erased:
        raise UnknownSession("that session is not active (signed out, or unknown)")
    stamp = services.stamp_for(Context(ip=cmd.ip))
    account.check_session(claimed.session_id, cmd.token.strip(), stamp)
    services.save(account)
    email = services.store.keyring.open(account.email) or "[erased]"
    return ActiveSession(session_id=claimed.session_id, email=email)


@retry_on_conflict
def revoke_session(services: Services, cmd: RevokeSession) -> None:
    account = services.store.account(cmd.email)
    account.revoke_session(cmd.session_id, services.stamp(cmd))
    services.save(account)


@retry_on_conflict
def revoke_other_sessions(services: Services, cmd: RevokeOtherSessions) -> int:
    """The panic button: every session but the one kept ends now. Returns how many."""
    account = services.store.account(cmd.email)
    revoked = account.revoke_other_sessions(cmd.keep, services.stamp(cmd))
    services.save(account)
    return revoked
