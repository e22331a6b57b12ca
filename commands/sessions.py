"""Sessions: check a token (recording activity), sign one out, or all the others.

A session lives in its own stream (ledger.session); the account says whether its decisions
(every other session signed out, a key revoked, erasure) have ended it. Sessions opened before
sessions had streams are still in the account, and handled there until they idle out.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.inputs import Actor, CommandInput, Email, IpAddress, Name
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import credentials, identity
from ledger.account import Account
from ledger.errors import UnknownSession
from ledger.events import Context
from ledger.mfa_requirement import RESTRICTED
from ledger.organisation import Organisation
from ledger.session import NOT_ACTIVE, Session, Standing
from ledger.sign_in import SsoPolicy


class CheckSession(CommandInput):
    token: str
    ip: IpAddress | None = None
    # What the session is checked for is enrolling a factor or signing out, which a session
    # restricted by the organisation's MFA requirement may still do.
    enrolling: bool = False


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
    account_id: UUID  # the account the session belongs to
    restricted: str | None = None  # ledger.mfa_requirement.RESTRICTED


@dataclass(frozen=True)
class OthersSignedOut:
    """Where the decision was recorded: the read models count the sessions it ended."""

    account_email: str
    position: int


@retry_on_conflict
def check_session(services: Services, cmd: CheckSession) -> ActiveSession:
    claimed = credentials.read_session_token(cmd.token)
    if claimed is None:
        raise UnknownSession(NOT_ACTIVE)
    # The account, the session and the organisation, up to date, in one query when cached.
    stream = identity.session_stream_id(claimed.account_id, claimed.session_id)
    account, session, org = services.store.app.find_signed_in(claimed.account_id, stream)
    if account is None or account.erased:
        raise UnknownSession(NOT_ACTIVE)
    stamp = services.stamp_for(Context(ip=cmd.ip))
    restricted = False
    if session is None:
        account.check_legacy_session(claimed.session_id, cmd.token.strip(), stamp)
        services.save(account)
    else:
        standing = standing_in(account, org)
        restricted = session.check(cmd.token.strip(), standing, stamp, cmd.enrolling)
        services.save(session)
    email = services.store.keyring.open(account.email) or "[erased]"
    return ActiveSession(
        claimed.session_id, email, claimed.account_id, RESTRICTED if restricted else None
    )


@retry_on_conflict
def revoke_session(services: Services, cmd: RevokeSession) -> None:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    session = session_of(services, account, cmd.session_id)
    if session is None:
        account.sign_out_legacy_session(cmd.session_id, stamp)
        services.save(account)
    else:
        session.sign_out(standing_of(services, account), stamp)
        services.save(session)


@retry_on_conflict
def revoke_other_sessions(services: Services, cmd: RevokeOtherSessions) -> OthersSignedOut:
    """The panic button: every session but the one kept ends now."""
    account = services.store.account(cmd.email)
    kept = session_of(services, account, cmd.keep)
    policy = sso_policy_of(services, account)
    account.sign_out_other_sessions(cmd.keep, kept, services.stamp(cmd), policy)
    position = services.save(account)
    return OthersSignedOut(account_email=cmd.email, position=position)


def sso_policy_of(services: Services, account: Account) -> SsoPolicy | None:
    org = services.store.app.find_organisation(account.org_id)
    return org.sso_policy() if org else None


def standing_of(services: Services, account: Account) -> Standing:
    """What ends or restricts the account's sessions, its organisation's policies included."""
    return standing_in(account, services.store.app.find_organisation(account.org_id))


def standing_in(account: Account, org: Organisation | None) -> Standing:
    if org is None:
        return account.session_standing()
    return account.session_standing(org.sso_policy(), org.mfa_requirement())


def session_of(services: Services, account: Account, session_id: str) -> Session | None:
    """The session's stream; None for a session kept in the account (or none at all)."""
    return services.store.app.find_session(identity.session_stream_id(account.id, session_id))
