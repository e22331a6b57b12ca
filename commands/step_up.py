"""Step-up, as commands meet it: the session a change comes from, its proof, its refusal.

The rule is the session's (ledger.session): a sensitive change from a session needs that
session to have proven one of the account's factors in the last ten minutes. The web passes
the session a change comes from (`acting_session`); the command line acts for the account's
owner or an operator, has no session, and so asks for no step-up.
"""

from __future__ import annotations

from commands.inputs import Actor
from commands.services import Services
from commands.sessions import session_of, standing_of
from ledger.account import Account
from ledger.errors import UnknownSession
from ledger.events import Stamp
from ledger.session import NOT_ACTIVE, Session


def acting_session(
    services: Services, account: Account, cmd: Actor, stamp: Stamp
) -> Session | None:
    """The active session of this account the change comes from; None from the command line."""
    if cmd.acting_session is None:
        return None
    session = session_of(services, account, cmd.acting_session)
    if session is None or not session.is_active(stamp.at, standing_of(services, account)):
        raise UnknownSession(NOT_ACTIVE)
    return session


def require_step_up(
    services: Services, account: Account, cmd: Actor, action: str, stamp: Stamp
) -> None:
    """Go on only if the acting session proved a factor just before; the refusal is recorded."""
    session = acting_session(services, account, cmd, stamp)
    if session is not None:
        with services.recording(session):
            session.require_step_up(action, bool(account.enabled_factors), stamp)


def require_enrolment_allowed(
    services: Services, account: Account, cmd: Actor, action: str, stamp: Stamp
) -> None:
    """Enrolling a factor: beside one the account has, the session's fresh proof first; a
    first one, from a session a person signed in to, never one an API key opened (a leaked
    key must not hand its holder the account's second factor). Refusals are recorded."""
    if account.enabled_factors:
        require_step_up(services, account, cmd, action, stamp)
        return
    session = acting_session(services, account, cmd, stamp)
    if session is not None:
        with services.recording(session):
            session.require_signed_in_person(action, stamp)


def with_session(account: Account, session: Session | None) -> list[Account | Session]:
    """What a command that may record a proof on its session saves, in one go."""
    return [account] if session is None else [account, session]
