"""Signing in: one recorded attempt per call, whatever its outcome.

An attempt for an e-mail address with no account is recorded too, and answers exactly like a
wrong password (same work, same output), so that nobody can probe which accounts exist. Only an
SSO sign-in, whose identity the IdP has already proven, is told `unknown_user`.
"""

from __future__ import annotations

from typing import Literal, NoReturn

from commands.clients import describe_client
from commands.inputs import CommandInput, Email, IpAddress, RecoveryCode, SixDigitCode, UserAgent
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import identity
from ledger.errors import LoginDenied
from ledger.events import Context, Stamp
from ledger.passwords import verify_against_decoy
from ledger.sign_in import INVALID_API_KEY, WRONG_PASSWORD, NewSession, SignInAttempt, SsoPolicy
from ledger.unknown_account import LOCKED_OUT, UNKNOWN_USER, UnknownAccountAttempts

# What an unknown address answers: the same as a wrong password or key would. Only SSO, whose
# identity the IdP has proven, learns that there is no such account.
_AS_IF_KNOWN = {
    "password": ("invalid_password", WRONG_PASSWORD),
    "api_key": ("invalid_api_key", INVALID_API_KEY),
}


class Login(CommandInput):
    email: Email
    method: Literal["password", "sso", "api_key"]
    ip: IpAddress
    user_agent: UserAgent
    password: str | None = None
    api_key: str | None = None
    idp_mfa: bool = False
    totp: SixDigitCode | None = None
    sms: SixDigitCode | None = None
    recovery_code: RecoveryCode | None = None


@retry_on_conflict
def log_in(services: Services, cmd: Login) -> NewSession:
    """A new session, or LoginDenied with the contract's reason (the attempt is recorded)."""
    stamp = services.stamp_for(Context(ip=cmd.ip, user_agent=cmd.user_agent))
    attempt = SignInAttempt(
        method=cmd.method,
        client=describe_client(cmd.ip, cmd.user_agent),
        password=cmd.password,
        api_key=cmd.api_key,
        idp_mfa=cmd.idp_mfa,
        totp=cmd.totp,
        sms=cmd.sms,
        recovery_code=cmd.recovery_code,
    )
    account = services.store.app.find_account(services.store.account_id(cmd.email))
    if account is None or account.erased:
        _record_unknown_account(services, cmd, attempt, stamp)
    org = services.store.app.find_organisation(account.org_id)
    sso = SsoPolicy(**org.sso) if org is not None and org.sso else None
    with services.recording(account):
        return account.log_in(attempt, sso, stamp)


def _record_unknown_account(
    services: Services, cmd: Login, attempt: SignInAttempt, stamp: Stamp
) -> NoReturn:
    """Answer exactly as an account would that nobody can sign in to (and lock out alike)."""
    if cmd.method == "password":
        verify_against_decoy(cmd.password or "")  # the same cost as a real one
    stream_id = identity.unknown_account_id(services.store.keyring.lookup_hash(cmd.email))
    attempts = services.store.app.find_unknown_account_attempts(stream_id)
    if attempts is None:
        attempts = UnknownAccountAttempts.first_attempt(
            stream_id, cmd.email, cmd.method, attempt.client, stamp
        )
        reason = UNKNOWN_USER
    else:
        reason = attempts.attempt(cmd.method, attempt.client, stamp)
    services.save(attempts)
    if reason == LOCKED_OUT:
        raise LoginDenied(LOCKED_OUT, attempts.lockout.message())
    raise LoginDenied(*_AS_IF_KNOWN.get(cmd.method, (UNKNOWN_USER, "no such account")))
