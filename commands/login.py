"""Signing in: one recorded attempt per call, whatever its outcome.

An attempt for an e-mail address with no account is recorded too, and answers exactly like a
wrong password, key or an account without SSO would (same work, same output), so that nobody
can probe which accounts exist.

An SSO sign-in is only ever as good as its ID token: the command verifies it against the
organisation's OpenID provider (signature, issuer, audience, times, nonce) and hands the
aggregate the verified claims, or why there are none; the account decides and records.
"""

from __future__ import annotations

from typing import Any, Literal, NoReturn, Self
from uuid import UUID

from pydantic import model_validator

from commands.clients import describe_client
from commands.inputs import (
    CommandInput,
    Email,
    IdToken,
    IpAddress,
    RecoveryCode,
    SixDigitCode,
    UserAgent,
)
from commands.retry import retry_on_conflict
from commands.services import Services
from ledger import id_tokens, identity
from ledger.account import Account
from ledger.clock import format_instant
from ledger.errors import LoginDenied
from ledger.events import Context, Stamp
from ledger.identity_provider import IdpUnavailable
from ledger.organisation import Organisation
from ledger.passwords import verify_against_decoy
from ledger.sign_in import (
    INVALID_API_KEY,
    THROTTLED,
    THROTTLED_MESSAGE,
    WRONG_PASSWORD,
    Client,
    NewSession,
    SignInAttempt,
    SsoProof,
)
from ledger.sign_in_source import SignInSource, source_of
from ledger.sso_identity import SsoIdentity
from ledger.unknown_account import LOCKED_OUT, UNKNOWN_USER, UnknownAccountAttempts

NO_SSO = "single sign-on is not set up for this account"
# What an unknown address answers: the same as a wrong password or key, or an account without
# SSO, would.
_AS_IF_KNOWN = {
    "password": ("invalid_password", WRONG_PASSWORD),
    "api_key": ("invalid_api_key", INVALID_API_KEY),
    "sso": ("sso_not_configured", NO_SSO),
}


class Login(CommandInput):
    email: Email
    method: Literal["password", "sso", "api_key"]
    ip: IpAddress
    user_agent: UserAgent
    # The connecting peer, when it differs from `ip` (a trusted proxy said who the client is).
    peer_ip: IpAddress | None = None
    password: str | None = None
    api_key: str | None = None
    id_token: IdToken | None = None
    nonce: str | None = None  # what the sign-in flow asked the provider to put in the token
    totp: SixDigitCode | None = None
    sms: SixDigitCode | None = None
    recovery_code: RecoveryCode | None = None

    @model_validator(mode="after")
    def _the_secret_its_method_needs(self) -> Self:
        """A sign-in without its secret is a mistake of the caller's, not an attempt: refused
        as bad input, so that it records nothing and never counts towards a lockout."""
        if (self.method == "sso") != (self.id_token is not None):
            raise ValueError("an SSO sign-in takes an ID token (--id-token-stdin), and only it")
        if self.method == "password" and self.password is None:
            raise ValueError("a password sign-in takes the password (--password-stdin)")
        if self.method == "api_key" and self.api_key is None:
            raise ValueError("an API-key sign-in takes the key (--api-key-stdin)")
        return self


@retry_on_conflict
def log_in(services: Services, cmd: Login) -> NewSession:
    """A new session, or LoginDenied with the contract's reason (the attempt is recorded)."""
    stamp = services.stamp_for(Context(ip=cmd.ip, user_agent=cmd.user_agent))
    client = describe_client(cmd.ip, cmd.user_agent, cmd.peer_ip)
    source = sign_in_source(services, cmd.ip, stamp)
    throttled_for = source.throttled_for(stamp.at)
    account = services.store.live_account(cmd.email)
    if account is None:
        _record_unknown_account(services, cmd, client, source, throttled_for, stamp)
    org = services.store.app.find_organisation(account.org_id)
    proof, binding = None, None
    if cmd.id_token is not None and throttled_for is None:
        proof, binding = _prove_identity(services, cmd, account, org)
    attempt = SignInAttempt(
        method=cmd.method,
        client=client,
        password=cmd.password,
        api_key=cmd.api_key,
        sso=proof,
        totp=cmd.totp,
        sms=cmd.sms,
        recovery_code=cmd.recovery_code,
        throttled_for=throttled_for,
    )
    try:
        sso = org.sso_policy() if org else None
        mfa = org.mfa_requirement() if org else None
        session = account.log_in(attempt, sso, stamp, mfa=mfa)
    except LoginDenied as denied:
        services.save(account, *_counted(source, denied.reason, stamp))
        raise
    claimed = _new_binding(services, account, proof, binding, stamp)
    services.save(account, session.opened, *claimed)
    return session


def signed_in(session: NewSession) -> dict[str, Any]:
    """A successful sign-in's answer, on every surface: the session, its token (shown once),
    and what it owes the organisation's MFA requirement."""
    answer: dict[str, Any] = {
        "outcome": "success",
        "session_id": session.session_id,
        "session_token": session.token,
        "factor": session.factor,
    }
    if session.restricted:
        answer["restricted"] = session.restricted
    elif session.mfa_enrolment_due:
        answer["mfa_enrolment_due"] = format_instant(session.mfa_enrolment_due)
    return answer


def _prove_identity(
    services: Services, cmd: Login, account: Account, org: Organisation | None
) -> tuple[SsoProof | None, SsoIdentity | None]:
    """What the ID token proves about this account, checked with the organisation's IdP, and
    the binding of the token's identity as found (None: not bound yet)."""
    provider = org.provider_settings(services.store.keyring) if org else None
    if provider is None or cmd.id_token is None:
        return None, None  # the account's policy refuses: sso_not_configured
    expect = id_tokens.Expectations(
        provider.issuer, provider.client_id, services.now(), nonce=cmd.nonce
    )
    try:
        keys = services.providers().signing_keys(provider, id_tokens.key_id(cmd.id_token))
        verified = id_tokens.verify(cmd.id_token, keys, expect)
    except id_tokens.InvalidIdToken as invalid:
        return SsoProof(None, "invalid_id_token", invalid.what, str(invalid)), None
    except IdpUnavailable as down:
        return SsoProof(None, "idp_unavailable", None, down.message), None
    bound = sso_identity_of(services, verified.issuer, verified.subject)
    if bound is not None and bound.account_id != account.id and not _erased(services, bound):
        message = "this identity at the IdP belongs to another account"
        return SsoProof(verified, "invalid_id_token", "subject", message), bound
    claimed = verified.email.lower() if verified.email else None
    matches = claimed is not None and services.store.account_id(claimed) == account.id
    ours = bound is not None and bound.account_id == account.id
    return SsoProof(verified, email_matches=matches, bound=ours), bound


def sso_identity_of(services: Services, issuer: str, subject: str) -> SsoIdentity | None:
    """The binding of an identity at an OpenID provider to an account, if there is one."""
    return services.store.app.find_sso_identity(_sso_identity_id(services, issuer, subject))


def _erased(services: Services, bound: SsoIdentity) -> bool:
    """Whether the account the identity was bound to is erased (so the binding has ended)."""
    account = services.store.app.find_account(bound.account_id)
    return account is not None and account.erased


def _sso_identity_id(services: Services, issuer: str, subject: str) -> UUID:
    lookup = services.store.keyring.lookup_hash(f"{issuer}\n{subject}")
    return identity.sso_identity_id(lookup)


def _new_binding(
    services: Services,
    account: Account,
    proof: SsoProof | None,
    held: SsoIdentity | None,
    stamp: Stamp,
) -> list[SsoIdentity]:
    """The first SSO sign-in of an account also claims its IdP identity for it, for good (or
    takes it over from an erased account). `held` is the binding as the proof found it, not
    read again: a binding a concurrent sign-in made since then conflicts on saving, and the
    command re-runs on it, rather than being refused half-way and recording nothing."""
    token = proof.token if proof else None
    if proof is None or token is None or proof.bound:
        return []
    if held is None:
        identity_id = _sso_identity_id(services, token.issuer, token.subject)
        return [SsoIdentity.bind(identity_id, account.id, stamp)]
    held.take_over(account.id, _erased(services, held), stamp)
    return [held]


def sign_in_source(services: Services, ip: str, stamp: Stamp) -> SignInSource:
    """The source's throttle (its failures, and the texts asked for from it); a new one, saved
    with the first thing it counts, if it has none."""
    source = source_of(ip)
    stream_id = identity.sign_in_source_id(services.store.keyring.lookup_hash(source))
    found = services.store.app.find_sign_in_source(stream_id)
    return found or SignInSource.first_seen(stream_id, source, stamp)


def _counted(source: SignInSource, reason: str, stamp: Stamp) -> list[SignInSource]:
    return [source] if source.count_failure(reason, stamp) else []


def _record_unknown_account(
    services: Services,
    cmd: Login,
    client: Client,
    source: SignInSource,
    throttled_for: int | None,
    stamp: Stamp,
) -> NoReturn:
    """Answer exactly as an account would that nobody can sign in to (and lock out alike)."""
    throttled = throttled_for is not None
    if cmd.method == "password" and not throttled:
        verify_against_decoy(cmd.password or "")  # the same cost as a real one
    stream_id = identity.unknown_account_id(services.store.keyring.lookup_hash(cmd.email))
    attempts = services.store.app.find_unknown_account_attempts(stream_id)
    if attempts is None:
        attempts = UnknownAccountAttempts.first_attempt(
            stream_id, cmd.email, cmd.method, client, stamp, throttled
        )
        reason = THROTTLED if throttled else UNKNOWN_USER
    else:
        reason = attempts.attempt(cmd.method, client, stamp, throttled)
    services.save(attempts, *_counted(source, reason, stamp))
    if reason == THROTTLED:
        raise LoginDenied(THROTTLED, THROTTLED_MESSAGE, throttled_for)
    if reason == LOCKED_OUT:
        raise LoginDenied(LOCKED_OUT, attempts.lockout.message())
    raise LoginDenied(*_AS_IF_KNOWN[cmd.method])
