"""Signing in, sessions and API keys: the part of the account aggregate on the login path.

`SignIn` is mixed into `Account`. Every attempt becomes one event (`LoginSucceeded` or
`LoginFailed`); lockout, second-factor use and sessions are all derived from those events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ledger import credentials
from ledger.errors import (
    AdminRequired,
    LoginDenied,
    SessionExpired,
    UnknownApiKey,
    UnknownSession,
    VerificationDenied,
)
from ledger.events import LedgerEvent, Stamp
from ledger.passwords import verify_password

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.account import Account
    from ledger.lockout import Lockout

Method = Literal["password", "sso", "api_key"]
SignInFactor = Literal["totp", "sms", "recovery_code", "idp"]

SESSION_IDLE_LIMIT = timedelta(days=30)
ACTIVITY_GRANULARITY = timedelta(minutes=5)
WRONG_PASSWORD = "wrong e-mail or password"  # noqa: S105 (a message, not a secret)
INVALID_API_KEY = "that API key is not valid"
# Failures that count towards a lockout: a wrong secret, not a missing step.
COUNTED_FAILURES = frozenset(
    {
        "invalid_password",
        "invalid_mfa_code",
        "mfa_code_reused",
        "invalid_recovery_code",
        "sms_code_expired",
        "invalid_api_key",
    }
)


@dataclass(frozen=True)
class Client:
    """Where an attempt came from, as shown to the user (sealed in the events)."""

    ip: str | None = None
    location: str | None = None
    country_code: str | None = None
    browser: str | None = None
    os: str | None = None
    device: str | None = None

    def sealed(self, stamp: Stamp, owner: Any) -> str:
        return stamp.sealer.seal(owner, json.dumps(self.__dict__, sort_keys=True))


@dataclass(frozen=True)
class SignInAttempt:
    method: Method
    client: Client
    password: str | None = None
    api_key: str | None = None
    idp_mfa: bool = False
    totp: str | None = None
    sms: str | None = None
    recovery_code: str | None = None


@dataclass(frozen=True)
class SsoPolicy:
    idp: str
    mfa_mode: Literal["idp", "flero", "both"]
    enforced: bool


@dataclass(frozen=True)
class NewSession:
    session_id: str
    token: str  # shown once
    factor: SignInFactor | None


class SignIn:
    """Sign-in rules. Mixed into Account, whose MFA checks (`_check_*`) it uses."""

    if TYPE_CHECKING:  # what sign-in needs from the account it is mixed into
        lockout: Lockout
        sessions: dict[str, dict[str, Any]]
        api_keys: dict[str, dict[str, Any]]
        sso_disconnected: bool
        password_hash: str | None

        @property
        def id(self) -> UUID: ...
        @property
        def enabled_factors(self) -> list[Literal["totp", "sms"]]: ...
        def _record(self, event_class: type[LedgerEvent], stamp: Stamp, **fields: Any) -> None: ...
        def check_clock(self, at: datetime) -> None: ...
        def _check_totp(self, code: str, stamp: Stamp) -> int: ...
        def _check_sms_code(self, code: str, stamp: Stamp) -> None: ...
        def _check_recovery_code(self, code: str) -> str: ...

    class LoginSucceeded(LedgerEvent):
        method: Method
        factor: SignInFactor | None
        client: str  # sealed Client
        session_id: str
        token_hash: str
        totp_step: int | None = None
        recovery_code_hash: str | None = None
        sms_code_used: bool = False
        api_key_id: str | None = None

        def apply(self, account: Account) -> None:
            account.lockout.count_success()
            if self.factor is not None:
                account.last_factor_at = self.timestamp
            if self.totp_step is not None:
                account.totp_last_step = self.totp_step
            if self.recovery_code_hash is not None:
                account.recovery_hashes.remove(self.recovery_code_hash)
            if self.sms_code_used:
                account.sms_login_code = None
            if self.api_key_id is not None:
                account.api_keys[self.api_key_id]["last_used"] = self.timestamp
            account.forget_idle_sessions(self.timestamp)
            account.sessions[self.session_id] = {
                "token_hash": self.token_hash,
                "created_at": self.timestamp,
                "last_activity": self.timestamp,
                "client": self.client,
            }

    class LoginFailed(LedgerEvent):
        method: Method
        reason: str
        factor: SignInFactor | None = None
        client: str  # sealed Client

        def apply(self, account: Account) -> None:
            if self.reason in COUNTED_FAILURES:
                account.lockout.count_failure(self.timestamp)
            if self.factor == "sms" and self.reason == "invalid_mfa_code":
                account.count_wrong_sms_code("sign_in")

    class SessionActivityRecorded(LedgerEvent):
        session_id: str

        def apply(self, account: Account) -> None:
            account.sessions[self.session_id]["last_activity"] = self.timestamp

    class SessionRevoked(LedgerEvent):
        session_id: str

        def apply(self, account: Account) -> None:
            account.sessions.pop(self.session_id, None)

    class SessionsRevoked(LedgerEvent):
        """The panic button: every session but `kept` (if any) ended at once."""

        session_ids: list[str]
        kept: str | None

        def apply(self, account: Account) -> None:
            for session_id in self.session_ids:
                account.sessions.pop(session_id, None)

    class ApiKeyCreated(LedgerEvent):
        key_id: str
        name: str
        key_hash: str

        def apply(self, account: Account) -> None:
            account.api_keys[self.key_id] = {
                "name": self.name,
                "key_hash": self.key_hash,
                "created_at": self.timestamp,
                "last_used": None,
                "revoked": False,
            }

    class ApiKeyRevoked(LedgerEvent):
        key_id: str

        def apply(self, account: Account) -> None:
            account.api_keys[self.key_id]["revoked"] = True

    class SsoDisconnected(LedgerEvent):
        def apply(self, account: Account) -> None:
            account.sso_disconnected = True

    # ---- signing in -------------------------------------------------------------------------

    def log_in(self, attempt: SignInAttempt, sso: SsoPolicy | None, stamp: Stamp) -> NewSession:
        """Check every rule for this attempt; record it either way. Raises LoginDenied."""
        client = attempt.client.sealed(stamp, self.id)
        if self.lockout.is_locked(stamp.at):
            self._refuse(attempt, client, _Refusal("locked_out", self.lockout.message()), stamp)
        try:
            needs_factor, evidence = self._check_first_factor(attempt, sso)
            if needs_factor:
                evidence |= self._check_second_factor(attempt, stamp)
        except _Refusal as refusal:
            self._refuse(attempt, client, refusal, stamp)
        factor = evidence.pop("factor", None)
        if factor is None and attempt.method == "sso" and attempt.idp_mfa:
            factor = "idp"
        issued = credentials.issue_session_token(self.id)
        self._record(
            self.LoginSucceeded,
            stamp,
            method=attempt.method,
            factor=factor,
            client=client,
            session_id=issued.public_id,
            token_hash=issued.secret_hash,
            **evidence,
        )
        return NewSession(session_id=issued.public_id, token=issued.secret, factor=factor)

    def _check_first_factor(
        self, attempt: SignInAttempt, sso: SsoPolicy | None
    ) -> tuple[bool, dict[str, Any]]:
        """The credential itself: whether a Flero second factor is needed, and what it used."""
        if attempt.method == "api_key":
            return False, {"api_key_id": self._check_api_key(attempt.api_key or "")}
        if attempt.method == "password":
            if sso is not None and sso.enforced and not self.sso_disconnected:
                raise _Refusal("sso_required", "your organisation signs you in through SSO")
            password_ok = self.password_hash is not None and verify_password(
                self.password_hash, attempt.password or ""
            )
            if not password_ok:
                raise _Refusal("invalid_password", WRONG_PASSWORD)
            return bool(self.enabled_factors), {}
        if sso is None or self.sso_disconnected:
            raise _Refusal("sso_not_configured", "single sign-on is not set up for this account")
        if sso.mfa_mode in ("idp", "both") and not attempt.idp_mfa:
            raise _Refusal("idp_mfa_required", "the identity provider did not assert MFA")
        if sso.mfa_mode in ("flero", "both") and not self.enabled_factors:
            raise _Refusal("mfa_required", "enrol a Flero second factor first")
        return sso.mfa_mode in ("flero", "both"), {}

    def _check_second_factor(self, attempt: SignInAttempt, stamp: Stamp) -> dict[str, Any]:
        """Which factor was used and what it consumes (a TOTP step, a code)."""
        factor: SignInFactor = "recovery_code"
        try:
            if attempt.totp is not None and "totp" in self.enabled_factors:
                factor = "totp"
                return {"factor": factor, "totp_step": self._check_totp(attempt.totp, stamp)}
            if attempt.sms is not None and "sms" in self.enabled_factors:
                factor = "sms"
                self._check_sms_code(attempt.sms, stamp)
                return {"factor": factor, "sms_code_used": True}
            if attempt.recovery_code is not None:
                matched = self._check_recovery_code(attempt.recovery_code)
                return {"factor": factor, "recovery_code_hash": matched}
        except VerificationDenied as denied:
            raise _Refusal(denied.code, denied.message, factor) from None
        raise _Refusal(
            "mfa_required", "a second factor is required: --totp, --sms or --recovery-code"
        )

    def _check_api_key(self, key: str) -> str:
        key_id = credentials.read_api_key_id(key) or ""
        stored = self.api_keys.get(key_id)
        # Compare even when no key has that id, so that timing says nothing about key ids.
        valid = credentials.matches(key, stored["key_hash"] if stored else credentials.digest(""))
        if not (valid and stored and not stored["revoked"]):
            raise _Refusal("invalid_api_key", INVALID_API_KEY)
        return key_id

    def _refuse(
        self, attempt: SignInAttempt, client: str, refusal: _Refusal, stamp: Stamp
    ) -> NoReturn:
        self._record(
            self.LoginFailed,
            stamp,
            method=attempt.method,
            reason=refusal.reason,
            factor=refusal.factor,
            client=client,
        )
        raise LoginDenied(refusal.reason, str(refusal))

    # ---- sessions -----------------------------------------------------------------------------

    def check_session(self, session_id: str, token: str, stamp: Stamp) -> None:
        """A valid, unexpired session; records activity at most once per five minutes.

        Asked at an instant before the account's last event (`--now` back-dated), it is
        refused even when nothing would be recorded: an expired session stays expired."""
        self.check_clock(stamp.at)
        session = self.sessions.get(session_id)
        if session is None or not credentials.matches(token, session["token_hash"]):
            raise UnknownSession("that session is not active (signed out, or unknown)")
        if stamp.at - session["last_activity"] > SESSION_IDLE_LIMIT:
            raise SessionExpired("that session expired after 30 days without activity")
        if stamp.at - session["last_activity"] >= ACTIVITY_GRANULARITY:
            self._record(self.SessionActivityRecorded, stamp, session_id=session_id)

    def revoke_session(self, session_id: str, stamp: Stamp) -> None:
        if session_id not in self.active_sessions(stamp.at):
            raise UnknownSession(f"no active session {session_id!r} on this account")
        self._record(self.SessionRevoked, stamp, session_id=session_id)

    def revoke_other_sessions(self, keep: str | None, stamp: Stamp) -> int:
        """End every active session except `keep`; returns how many were ended."""
        self.check_clock(stamp.at)
        active = self.active_sessions(stamp.at)
        if keep is not None and keep not in active:
            raise UnknownSession(f"no active session {keep!r} to keep on this account")
        ended = [session_id for session_id in active if session_id != keep]
        if ended:
            self._record(self.SessionsRevoked, stamp, session_ids=ended, kept=keep)
        return len(ended)

    def active_sessions(self, at: datetime) -> list[str]:
        return [
            session_id
            for session_id, session in self.sessions.items()
            if at - session["last_activity"] <= SESSION_IDLE_LIMIT
        ]

    def forget_idle_sessions(self, at: datetime) -> None:
        """Keep the aggregate small: sessions idle past the limit can never validate again."""
        active = set(self.active_sessions(at))
        for session_id in [s for s in self.sessions if s not in active]:
            del self.sessions[session_id]

    # ---- API keys, SSO ------------------------------------------------------------------------

    def create_api_key(self, name: str, stamp: Stamp) -> credentials.IssuedSecret:
        issued = credentials.issue_api_key()
        self._record(
            self.ApiKeyCreated,
            stamp,
            key_id=issued.public_id,
            name=name,
            key_hash=issued.secret_hash,
        )
        return issued

    def revoke_api_key(self, key_id: str, stamp: Stamp) -> None:
        key = self.api_keys.get(key_id)
        if key is None or key["revoked"]:
            raise UnknownApiKey(f"no active API key {key_id!r} on this account")
        self._record(self.ApiKeyRevoked, stamp, key_id=key_id)

    def disconnect_sso(self, by_org_admin: bool, stamp: Stamp) -> None:
        if not by_org_admin:
            raise AdminRequired("only an admin of your organisation can disconnect SSO")
        self._record(self.SsoDisconnected, stamp)


class _Refusal(Exception):
    """Why an attempt fails, on its way to becoming a LoginFailed event."""

    def __init__(self, reason: str, message: str, factor: SignInFactor | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.factor = factor
