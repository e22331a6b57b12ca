"""Signing in, sessions and API keys: the part of the account aggregate on the login path.

`SignIn` is mixed into `Account`. Every attempt becomes one event (`LoginSucceeded` or
`LoginFailed`); lockout and second-factor use are derived from those events. A success opens a
session in a stream of its own (`ledger.session`); the account keeps only what ends sessions
(signing the others out, revoking a key) and the sessions opened before sessions had streams.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ledger import credentials, identity
from ledger.errors import (
    AdminRequired,
    LoginDenied,
    SessionExpired,
    SsoRequired,
    UnknownApiKey,
    UnknownSession,
    VerificationDenied,
)
from ledger.events import LedgerEvent, Stamp
from ledger.mfa_requirement import RESTRICTED, Compliance, MfaRequirement
from ledger.passwords import hash_password, needs_rehash, verify_password
from ledger.session import ACTIVITY_GRANULARITY, IDLE_LIMIT, Method, Session, SignInFactor, Standing

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.account import Account
    from ledger.credentials import IssuedSecret
    from ledger.id_tokens import VerifiedIdToken
    from ledger.lockout import Lockout

SESSION_IDLE_LIMIT = IDLE_LIMIT  # of sessions opened before sessions had streams: all 30 days
WRONG_PASSWORD = "wrong e-mail or password"  # noqa: S105 (a message, not a secret)
INVALID_API_KEY = "that API key is not valid"
THROTTLED = "too_many_attempts"
THROTTLED_MESSAGE = "too many failed sign-ins from your network: try again later"
KEY_AWAITS_SSO = (
    "your organisation now signs you in through SSO: authorise this API key again from a "
    "session opened with SSO"
)
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
    peer_ip: str | None = None  # the connecting proxy, when it vouched for `ip`
    location: str | None = None
    country_code: str | None = None
    browser: str | None = None
    os: str | None = None
    device: str | None = None

    def sealed(self, stamp: Stamp, owner: Any) -> str:
        return stamp.sealer.seal(owner, json.dumps(self.__dict__, sort_keys=True))


@dataclass(frozen=True)
class SsoProof:
    """What an ID token proved, as the command found it: the verified claims, or the reason
    (`invalid_id_token`, `idp_unavailable`...) and what failed. Never the client's word."""

    token: VerifiedIdToken | None
    failure: str | None = None
    detail: str | None = None
    message: str = "the ID token proves nothing"
    email_matches: bool = False  # the verified `email` claim is this account's address
    bound: bool = False  # the IdP identity is bound to this account already (ledger.sso_identity)

    def evidence(self, sealer: Any, owner: Any) -> str:
        """What is recorded with the attempt: issuer, subject, amr/acr, auth_time, hash."""
        token = self.token
        shown: dict[str, object] = {"failure": self.failure, "detail": self.detail}
        if token is not None:
            shown |= {
                "issuer": token.issuer,
                "subject": token.subject,
                "amr": list(token.amr),
                "acr": token.acr,
                "auth_time": token.auth_time.isoformat() if token.auth_time else None,
                "token_sha256": token.token_hash,
                "jti": token.jti,
            }
        return str(sealer.seal(owner, json.dumps(shown, sort_keys=True)))


@dataclass(frozen=True)
class SignInAttempt:
    method: Method
    client: Client
    password: str | None = None
    api_key: str | None = None
    sso: SsoProof | None = None
    totp: str | None = None
    sms: str | None = None
    recovery_code: str | None = None
    throttled_for: int | None = None  # seconds its source must wait (ledger.sign_in_source)


@dataclass(frozen=True)
class SsoPolicy:
    idp: str
    mfa_mode: Literal["idp", "flero", "both"]
    enforced: bool
    # False for an organisation set up before SSO meant OpenID Connect (no issuer recorded):
    # its enforcement still holds, but nobody can sign in through it until it is set up again.
    signs_in: bool = True
    enforced_since: datetime | None = None  # when enforcement last began (ledger.organisation)


@dataclass(frozen=True)
class NewSession:
    session_id: str
    token: str  # shown once
    factor: SignInFactor | None
    opened: Session = field(repr=False, compare=False)  # to be saved with the account
    restricted: str | None = None  # RESTRICTED: the session may only enrol a factor
    mfa_enrolment_due: datetime | None = None  # the organisation requires MFA by then


class SignIn:
    """Sign-in rules. Mixed into Account, whose MFA checks (`_check_*`) it uses."""

    if TYPE_CHECKING:  # what sign-in needs from the account it is mixed into
        lockout: Lockout
        sessions: dict[str, dict[str, Any]]
        sessions_cut_off: int | None
        session_kept: str | None
        erased: bool
        api_keys: dict[str, dict[str, Any]]
        sso_disconnected: bool
        password_hash: str | None
        sso_subject: str | None
        sso_tokens_seen: tuple[tuple[str, datetime], ...]
        first_signed_in_at: datetime | None
        last_signed_in_at: datetime | None
        mfa_overdue_noted: datetime | None

        @property
        def id(self) -> UUID: ...

        version: int
        modified_on: datetime

        @property
        def enabled_factors(self) -> list[Literal["totp", "sms"]]: ...
        def _record(self, event_class: type[LedgerEvent], stamp: Stamp, **fields: Any) -> None: ...
        def check_clock(self, at: datetime) -> None: ...
        def _check_totp(self, code: str, stamp: Stamp) -> int: ...
        def _check_sms_code(self, code: str, stamp: Stamp) -> None: ...
        def _check_recovery_code(self, code: str) -> str: ...
        def mfa_compliance(
            self, requirement: MfaRequirement | None, at: datetime, signing_in: bool = False
        ) -> Compliance: ...

    class LoginSucceeded(LedgerEvent):
        method: Method
        factor: SignInFactor | None
        client: str  # sealed Client
        session_id: str
        # Set only on sign-ins recorded before sessions had streams of their own: the account
        # kept those sessions, token hash and all. Since then the session's stream holds it.
        token_hash: str | None = None
        totp_step: int | None = None
        recovery_code_hash: str | None = None
        sms_code_used: bool = False
        api_key_id: str | None = None
        # SSO only: the IdP's name, the sealed evidence of the verified ID token, the keyed
        # hash of (issuer, subject) the account is bound to, and the token's replay key.
        idp: str | None = None
        sso_evidence: str | None = None
        sso_subject: str | None = None
        sso_token_key: str | None = None
        sso_token_expires_at: datetime | None = None
        # The organisation requires MFA and the account has no factor that counts: the
        # session may only enrol one (RESTRICTED), or the deadline it has until.
        restricted: str | None = None
        mfa_enrolment_due: datetime | None = None

        def apply(self, account: Account) -> None:
            account.lockout.count_success()
            if account.first_signed_in_at is None:
                account.first_signed_in_at = self.timestamp
            account.last_signed_in_at = self.timestamp
            if self.sso_subject is not None:
                account.sso_subject = self.sso_subject
            if self.sso_token_key is not None and self.sso_token_expires_at is not None:
                account.remember_sso_token(
                    self.sso_token_key, self.sso_token_expires_at, self.timestamp
                )
            if self.totp_step is not None:
                account.totp_last_step = self.totp_step
            if self.recovery_code_hash is not None:
                account.recovery_hashes.remove(self.recovery_code_hash)
            if self.sms_code_used:
                account.sms_login_code = None
            if self.api_key_id is not None:
                account.api_keys[self.api_key_id]["last_used"] = self.timestamp
            account.forget_idle_sessions(self.timestamp)
            if self.token_hash is not None:
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
        idp: str | None = None
        sso_evidence: str | None = None  # sealed: what the token said and what failed

        def apply(self, account: Account) -> None:
            if self.reason in COUNTED_FAILURES:
                account.lockout.count_failure(self.timestamp)
            if self.factor == "sms" and self.reason == "invalid_mfa_code":
                account.count_wrong_sms_code("sign_in")

    # Sessions opened before sessions had streams record their activity and end here.
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

    class OtherSessionsSignedOut(LedgerEvent):
        """The panic button: every session opened before this event but `kept` ended."""

        kept: str | None

        def apply(self, account: Account) -> None:
            account.sessions = {k: v for k, v in account.sessions.items() if k == self.kept}
            account.sessions_cut_off = self.originator_version
            account.session_kept = self.kept

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

    class ApiKeyReauthorised(LedgerEvent):
        """Its owner authorised the key again from an SSO session, after SSO enforcement."""

        key_id: str

        def apply(self, account: Account) -> None:
            account.api_keys[self.key_id]["authorised_at"] = self.timestamp

    class ApiKeyRevoked(LedgerEvent):
        key_id: str

        def apply(self, account: Account) -> None:
            account.api_keys[self.key_id]["revoked"] = True

    class PasswordRehashed(LedgerEvent):
        """The same password, hashed again with today's parameters at a successful sign-in
        (ledger.passwords): the person changed nothing."""

        password_hash: str

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash

    class MfaEnrolmentOverdue(LedgerEvent):
        """The organisation's deadline to enrol a factor passed without one: noted at the
        first sign-in after it, which opens a restricted session."""

        deadline: datetime

        def apply(self, account: Account) -> None:
            account.mfa_overdue_noted = self.deadline

    class SsoDisconnected(LedgerEvent):
        def apply(self, account: Account) -> None:
            account.sso_disconnected = True

    # ---- signing in -------------------------------------------------------------------------

    def log_in(
        self,
        attempt: SignInAttempt,
        sso: SsoPolicy | None,
        stamp: Stamp,
        mfa: MfaRequirement | None = None,
    ) -> NewSession:
        """Check every rule for this attempt; record it either way. Raises LoginDenied.

        `sso` and `mfa`: the organisation's SSO policy and MFA requirement."""
        client = attempt.client.sealed(stamp, self.id)
        sso_fields = self._sso_fields(attempt, sso, stamp)
        if attempt.throttled_for is not None:
            refusal = _Refusal(THROTTLED, THROTTLED_MESSAGE, retry_after=attempt.throttled_for)
            self._refuse(attempt, client, refusal, stamp, sso_fields)
        if self.lockout.is_locked(stamp.at):
            refusal = _Refusal("locked_out", self.lockout.message())
            self._refuse(attempt, client, refusal, stamp, sso_fields)
        try:
            needs_factor, evidence = self._check_first_factor(attempt, sso, stamp)
            if needs_factor:
                evidence |= self._check_second_factor(attempt, stamp)
        except _Refusal as refusal:
            self._refuse(attempt, client, refusal, stamp, sso_fields)
        factor = evidence.pop("factor", None)
        if factor is None and attempt.sso is not None and attempt.sso.token is not None:
            factor = "idp" if attempt.sso.token.asserts_mfa else None
        obligation = self._enrolment_owed(attempt.method, mfa, stamp)
        self._rehash_password(attempt, stamp)
        issued = credentials.issue_session_token(self.id)
        self._record(
            self.LoginSucceeded,
            stamp,
            method=attempt.method,
            factor=factor,
            client=client,
            session_id=issued.public_id,
            **evidence,
            **sso_fields,
            **self._sso_binding(attempt, stamp),
            **obligation,
        )
        opened = self._open_session(
            issued, attempt.method, evidence, factor, client, stamp, obligation.get("restricted")
        )
        return NewSession(issued.public_id, issued.secret, factor, opened, **obligation)

    def _rehash_password(self, attempt: SignInAttempt, stamp: Stamp) -> None:
        """A password just proven, hashed with older parameters: hash it again now (the only
        moment the ledger holds it)."""
        proven = attempt.method == "password" and attempt.password is not None
        if proven and self.password_hash is not None and needs_rehash(self.password_hash):
            rehashed = hash_password(attempt.password or "")
            self._record(self.PasswordRehashed, stamp, password_hash=rehashed)

    def _enrolment_owed(
        self, method: Method, mfa: MfaRequirement | None, stamp: Stamp
    ) -> dict[str, Any]:
        """What a password sign-in owes the organisation's MFA requirement: its deadline while
        in grace; after it, a restricted session (the deadline passing noted once)."""
        if method != "password":
            return {}
        owed = self.mfa_compliance(mfa, stamp.at, signing_in=True)
        if owed.status == "grace":
            return {"mfa_enrolment_due": owed.deadline}
        if owed.status != "overdue":
            return {}
        if self.mfa_overdue_noted != owed.deadline:
            self._record(self.MfaEnrolmentOverdue, stamp, deadline=owed.deadline)
        return {"restricted": RESTRICTED}

    def _open_session(
        self,
        issued: IssuedSecret,
        method: Method,
        evidence: dict[str, Any],
        factor: SignInFactor | None,
        client: str,
        stamp: Stamp,
        restricted: str | None,
    ) -> Session:
        return Session.open(
            identity.session_stream_id(self.id, issued.public_id),
            account_id=self.id,
            account_version=self.version,
            issued=issued,
            opened_by=method,
            key_id=evidence.get("api_key_id"),
            factor=factor,
            client=client,
            stamp=stamp,
            restricted=restricted,
        )

    def _check_first_factor(
        self, attempt: SignInAttempt, sso: SsoPolicy | None, stamp: Stamp
    ) -> tuple[bool, dict[str, Any]]:
        """The credential itself: whether a Flero second factor is needed, and what it used."""
        if attempt.method == "api_key":
            key_id = self._check_api_key(attempt.api_key or "")
            if key_id in self.keys_awaiting_sso(sso):
                raise _Refusal("sso_required", KEY_AWAITS_SSO)
            return False, {"api_key_id": key_id}
        if attempt.method == "password":
            if sso is not None and sso.enforced and not self.sso_disconnected:
                raise _Refusal("sso_required", "your organisation signs you in through SSO")
            password_ok = self.password_hash is not None and verify_password(
                self.password_hash, attempt.password or ""
            )
            if not password_ok:
                raise _Refusal("invalid_password", WRONG_PASSWORD)
            return bool(self.enabled_factors), {}
        if sso is None or not sso.signs_in or self.sso_disconnected:
            raise _Refusal("sso_not_configured", "single sign-on is not set up for this account")
        token = self._check_id_token(attempt.sso, stamp)
        if sso.mfa_mode in ("idp", "both") and not token.asserts_mfa:
            raise _Refusal("idp_mfa_required", "the identity provider did not assert MFA")
        if sso.mfa_mode in ("flero", "both") and not self.enabled_factors:
            raise _Refusal("mfa_required", "enrol a Flero second factor first")
        return sso.mfa_mode in ("flero", "both"), {}

    def _check_id_token(self, proof: SsoProof | None, stamp: Stamp) -> VerifiedIdToken:
        """The verified token, if it is for this account and has not been used before."""
        if proof is None or proof.failure is not None or proof.token is None:
            reason = proof.failure if proof and proof.failure else "invalid_id_token"
            raise _Refusal(reason, proof.message if proof else "an ID token is required")
        token = proof.token
        if self.sso_subject is not None:
            if stamp.sealer.keyed_hash(self.id, _subject(token)) != self.sso_subject:
                raise _Refusal("invalid_id_token", "this account is bound to another IdP identity")
        elif not token.email_verified:
            raise _Refusal("email_not_verified", "the IdP has not verified this e-mail address")
        elif not proof.email_matches:
            raise _Refusal("invalid_id_token", "the ID token is for another e-mail address")
        if any(key == token.replay_key for key, _ in self.sso_tokens_seen):
            raise _Refusal("id_token_reused", "that ID token was already used to sign in")
        return token

    def _sso_fields(
        self, attempt: SignInAttempt, sso: SsoPolicy | None, stamp: Stamp
    ) -> dict[str, Any]:
        """What an SSO attempt records, success or failure: the IdP and the token's evidence."""
        if attempt.sso is None:
            return {}
        return {
            "idp": sso.idp if sso else None,
            "sso_evidence": attempt.sso.evidence(stamp.sealer, self.id),
        }

    def _sso_binding(self, attempt: SignInAttempt, stamp: Stamp) -> dict[str, Any]:
        """A successful SSO sign-in binds the account to its (issuer, subject) and spends
        the token."""
        token = attempt.sso.token if attempt.sso else None
        if token is None:
            return {}
        return {
            "sso_subject": stamp.sealer.keyed_hash(self.id, _subject(token)),
            "sso_token_key": token.replay_key,
            "sso_token_expires_at": token.accepted_until,
        }

    def remember_sso_token(self, key: str, expires_at: datetime, at: datetime) -> None:
        """Spent tokens are kept for as long as they would verify, and no longer."""
        kept = tuple((k, v) for k, v in self.sso_tokens_seen if v > at)
        self.sso_tokens_seen = (*kept, (key, expires_at))

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

    def keys_awaiting_sso(self, sso: SsoPolicy | None) -> frozenset[str]:
        """Keys authorised before SSO enforcement began, while it holds (GitHub's model)."""
        if sso is None or not sso.enforced or sso.enforced_since is None or self.sso_disconnected:
            return frozenset()
        since = sso.enforced_since
        return frozenset(
            key_id
            for key_id, key in self.api_keys.items()
            if key.get("authorised_at", key["created_at"]) <= since
        )

    def reauthorise_api_key(self, key_id: str, session: Session, stamp: Stamp) -> None:
        """Lift the suspension SSO enforcement put on a key: from an SSO session only."""
        key = self.api_keys.get(key_id)
        if key is None or key["revoked"]:
            raise UnknownApiKey(f"no active API key {key_id!r} on this account")
        if session.opened_by != "sso":
            raise SsoRequired("authorise an API key again from a session you opened with SSO")
        self._record(self.ApiKeyReauthorised, stamp, key_id=key_id)

    def _refuse(
        self,
        attempt: SignInAttempt,
        client: str,
        refusal: _Refusal,
        stamp: Stamp,
        sso_fields: dict[str, Any],
    ) -> NoReturn:
        self._record(
            self.LoginFailed,
            stamp,
            method=attempt.method,
            reason=refusal.reason,
            factor=refusal.factor,
            client=client,
            **sso_fields,
        )
        raise LoginDenied(refusal.reason, str(refusal), refusal.retry_after)

    # ---- sessions ------------------------------------------------------------------------------

    def session_standing(
        self, sso: SsoPolicy | None = None, mfa: MfaRequirement | None = None
    ) -> Standing:
        """What ends (or restricts) this account's sessions: its own decisions, and its
        organisation's SSO enforcement and MFA requirement."""
        enforced = sso is not None and sso.enforced and not self.sso_disconnected
        owed = self.mfa_compliance(mfa, self.modified_on)
        return Standing(
            last_recorded=self.modified_on,
            erased=self.erased,
            cut_off=self.sessions_cut_off,
            kept=self.session_kept,
            revoked_keys=frozenset(k for k, key in self.api_keys.items() if key["revoked"]),
            sso_only_since=sso.enforced_since if enforced and sso else None,
            enrolment_deadline=owed.deadline if owed.status in ("grace", "overdue") else None,
        )

    def sign_out_other_sessions(
        self, keep: str | None, kept: Session | None, stamp: Stamp, sso: SsoPolicy | None = None
    ) -> None:
        """End every session but `keep` (which must be active; `kept` is its stream, None for
        a session kept in the account): the panic button. With `keep` None, every session."""
        self.check_clock(stamp.at)
        if kept is not None:
            keeps_one = kept.is_active(stamp.at, self.session_standing(sso))
        else:
            keeps_one = keep is None or keep in self.legacy_sessions(stamp.at)
        if not keeps_one:
            raise UnknownSession(f"no active session {keep!r} to keep on this account")
        self._record(self.OtherSessionsSignedOut, stamp, kept=keep)

    # Sessions opened before sessions had streams of their own live in the account until they
    # idle out (30 days at most): checked, signed out and listed here.

    def check_legacy_session(self, session_id: str, token: str, stamp: Stamp) -> None:
        self.check_clock(stamp.at)
        session = self.sessions.get(session_id)
        if session is None or not credentials.matches(token, session["token_hash"]):
            raise UnknownSession("that session is not active (signed out, or unknown)")
        if stamp.at - session["last_activity"] > SESSION_IDLE_LIMIT:
            raise SessionExpired("that session expired after 30 days without activity")
        if stamp.at - session["last_activity"] >= ACTIVITY_GRANULARITY:
            self._record(self.SessionActivityRecorded, stamp, session_id=session_id)

    def sign_out_legacy_session(self, session_id: str, stamp: Stamp) -> None:
        if session_id not in self.legacy_sessions(stamp.at):
            raise UnknownSession(f"no active session {session_id!r} on this account")
        self._record(self.SessionRevoked, stamp, session_id=session_id)

    def legacy_sessions(self, at: datetime) -> list[str]:
        return [
            session_id
            for session_id, session in self.sessions.items()
            if at - session["last_activity"] <= SESSION_IDLE_LIMIT
        ]

    def forget_idle_sessions(self, at: datetime) -> None:
        active = set(self.legacy_sessions(at))
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


def _subject(token: VerifiedIdToken) -> str:
    return f"{token.issuer}\n{token.subject}"


class _Refusal(Exception):
    """Why an attempt fails, on its way to becoming a LoginFailed event."""

    def __init__(
        self,
        reason: str,
        message: str,
        factor: SignInFactor | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.factor = factor
        self.retry_after = retry_after
