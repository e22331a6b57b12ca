"""The account aggregate: every MFA rule lives here.

Public methods validate, compute (clock, secrets, hashes) and then record events; each event's
`apply` only assigns, because it runs again on every replay.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, TypeVar
from uuid import UUID

from pydantic import AwareDatetime

from ledger import recovery_codes, totp
from ledger.aggregate import LedgerAggregate
from ledger.errors import (
    AdminRequired,
    FactorAlreadyEnabled,
    FactorNotEnabled,
    InvalidMfaCode,
    InvalidRecoveryCode,
    LedgerError,
    LockedOut,
    MfaCodeReused,
    MfaNotEnabled,
    MfaRequiredByOrg,
    NoPendingEnrolment,
    SmsCodeExpired,
    VerificationDenied,
)
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp
from ledger.keyring import Sealer
from ledger.lockout import Lockout
from ledger.mfa_requirement import Compliance, MemberFacts, MfaRequirement, compliance
from ledger.sign_in import SignIn

Factor = Literal["totp", "sms"]
VerifiedFactor = Literal["totp", "sms", "recovery_code"]
Challenge = Literal["enrolment", "sign_in"]

T = TypeVar("T")

SMS_CODE_LIFETIME = timedelta(minutes=10)
SMS_CODE_ATTEMPTS = 5  # wrong guesses before a texted code is void


class NotAMember(LedgerError):
    code = "not_a_member"


class PasswordManagedByIdp(LedgerError):
    code = "password_managed_by_idp"


def new_sms_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


class Account(SignIn, LedgerAggregate):
    # The keyed hash of the (issuer, subject) of the first SSO sign-in, and the ID tokens spent
    # since (until they expire). Class defaults for the same reason; only ever reassigned.
    sso_subject: str | None = None
    sso_tokens_seen: tuple[tuple[str, datetime], ...] = ()  # (replay key, expires at)
    # The last "sign out every other session": sessions opened before that account version end,
    # but the one kept (see ledger.session.Standing).
    sessions_cut_off: int | None = None
    session_kept: str | None = None
    # First and last successful sign-in, and the MFA deadline last noted as passed
    # (ledger.mfa_requirement). Unknown to a snapshot taken before they existed, until the
    # next sign-in.
    first_signed_in_at: datetime | None = None
    last_signed_in_at: datetime | None = None
    mfa_overdue_noted: datetime | None = None

    class Event(LedgerEvent):
        pass

    class Created(LedgerCreatedEvent, Event):
        org_id: UUID
        email: str  # sealed
        password_hash: str | None

    class PasswordChanged(Event):
        password_hash: str

        def apply(self, account: Account) -> None:
            account.password_hash = self.password_hash

    class WorkspaceMembershipGranted(Event):
        workspace: str
        role: str

        def apply(self, account: Account) -> None:
            account.workspaces[self.workspace] = self.role

    class WorkspaceMembershipRevoked(Event):
        workspace: str

        def apply(self, account: Account) -> None:
            account.workspaces.pop(self.workspace, None)

    class AlertSettingsChanged(Event):
        security: bool

        def apply(self, account: Account) -> None:
            account.security_alerts = self.security

    class TotpEnrolmentStarted(Event):
        secret: str  # sealed

        def apply(self, account: Account) -> None:
            account.totp_pending_secret = self.secret

    class TotpEnrolmentConfirmed(Event):
        step: int

        def apply(self, account: Account) -> None:
            account.totp_secret = account.totp_pending_secret
            account.totp_pending_secret = None
            account.totp_enabled_at = self.timestamp
            account.totp_last_step = self.step

    class TotpCodeAccepted(Event):
        step: int

        def apply(self, account: Account) -> None:
            account.totp_last_step = self.step

    class TotpDisabled(Event):
        def apply(self, account: Account) -> None:
            account.totp_secret = None
            account.totp_enabled_at = None
            account.totp_last_step = None
            account.forget_recovery_codes_without_factor()

    class SmsEnrolmentStarted(Event):
        phone: str  # sealed
        code_hash: str
        nonce: str
        expires_at: AwareDatetime

        def apply(self, account: Account) -> None:
            account.sms_pending = {
                "phone": self.phone,
                "code_hash": self.code_hash,
                "nonce": self.nonce,
                "expires_at": self.expires_at,
                "failures": 0,
            }

    class SmsEnrolmentConfirmed(Event):
        phone: str  # sealed, the number now enabled

        def apply(self, account: Account) -> None:
            account.sms_phone = self.phone
            account.sms_pending = None
            account.sms_enabled_at = self.timestamp

    class SmsLoginCodeSent(Event):
        code_hash: str
        nonce: str
        expires_at: AwareDatetime

        def apply(self, account: Account) -> None:
            account.sms_login_code = {
                "code_hash": self.code_hash,
                "nonce": self.nonce,
                "expires_at": self.expires_at,
                "failures": 0,
            }

    class SmsLoginCodeRefused(Event):
        """A sign-in code was asked for (the page's "Text me a code", the API) and none was
        texted: the account has no phone for sign-in (`factor_not_enabled`), or asking is
        throttled (`too_many_attempts`). Nothing changes; it is on record."""

        reason: str

    class SmsDisabled(Event):
        def apply(self, account: Account) -> None:
            account.sms_phone = None
            account.sms_enabled_at = None
            account.sms_login_code = None
            account.forget_recovery_codes_without_factor()

    class RecoveryCodesGenerated(Event):
        salt: str
        hashes: list[str]
        regenerated: bool

        def apply(self, account: Account) -> None:
            account.recovery_salt = self.salt
            account.recovery_hashes = list(self.hashes)
            account.recovery_generated_at = self.timestamp

    class RecoveryCodeUsed(Event):
        code_hash: str

        def apply(self, account: Account) -> None:
            account.recovery_hashes.remove(self.code_hash)

    class SmsCodeAccepted(Event):
        def apply(self, account: Account) -> None:
            account.sms_login_code = None

    class Erased(Event):
        """The account's personal data was crypto-shredded: its data key is destroyed."""

        def apply(self, account: Account) -> None:
            account.erased = True

    class VerificationFailed(Event):
        """A second-factor code was refused, while enrolling or while signing in."""

        factor: VerifiedFactor
        reason: str
        challenge: Challenge = "sign_in"

        def apply(self, account: Account) -> None:
            if self.factor == "sms":
                account.count_wrong_sms_code(self.challenge)
            if self.challenge == "sign_in" and self.reason != LockedOut.code:
                account.lockout.count_failure(self.timestamp)

    def __init__(self, org_id: UUID, email: str, password_hash: str | None) -> None:
        self.org_id = org_id
        self.email = email
        self.password_hash = password_hash
        self.workspaces: dict[str, str] = {}
        self.security_alerts = True
        self.totp_pending_secret: str | None = None
        self.totp_secret: str | None = None
        self.totp_enabled_at: datetime | None = None
        self.totp_last_step: int | None = None
        self.sms_pending: dict[str, Any] | None = None
        self.sms_phone: str | None = None
        self.sms_enabled_at: datetime | None = None
        self.sms_login_code: dict[str, Any] | None = None
        self.recovery_salt: str | None = None
        self.recovery_hashes: list[str] = []
        self.recovery_generated_at: datetime | None = None
        self.lockout = Lockout()
        # Sessions opened before sessions had streams of their own (ledger.sign_in).
        self.sessions: dict[str, dict[str, Any]] = {}
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.sso_disconnected = False
        self.erased = False

    @classmethod
    def create(
        cls,
        account_id: UUID,
        org_id: UUID,
        email: str,
        password_hash: str | None,
        stamp: Stamp,
    ) -> Account:
        return cls._create(
            cls.Created,
            id=account_id,
            org_id=org_id,
            email=stamp.sealer.seal(account_id, email),
            password_hash=password_hash,
            timestamp=stamp.at,
            **stamp.context_fields(account_id),
        )

    # ---- state the rules read -------------------------------------------------------------

    @property
    def enabled_factors(self) -> list[Factor]:
        factors: list[Factor] = []
        if self.totp_secret is not None:
            factors.append("totp")
        if self.sms_phone is not None:
            factors.append("sms")
        return factors

    def mfa_compliance(
        self, requirement: MfaRequirement | None, at: datetime, signing_in: bool = False
    ) -> Compliance:
        """Where the account stands against its organisation's MFA requirement at `at`;
        `signing_in`: as if the sign-in being decided had been recorded."""
        first = self.first_signed_in_at or (at if signing_in else None)
        facts = MemberFacts(
            joined_at=self.created_on,
            first_signed_in_at=first,
            factors=tuple(self.enabled_factors),
            answers_to_sso=not self.sso_disconnected,
        )
        return compliance(requirement, facts, at)

    def count_wrong_sms_code(self, challenge: Challenge) -> None:
        """After SMS_CODE_ATTEMPTS wrong guesses a texted code is void: no brute force."""
        texted = self.sms_pending if challenge == "enrolment" else self.sms_login_code
        if texted is None:
            return
        texted["failures"] += 1
        if texted["failures"] >= SMS_CODE_ATTEMPTS:
            if challenge == "enrolment":
                self.sms_pending = None
            else:
                self.sms_login_code = None

    def forget_recovery_codes_without_factor(self) -> None:
        """Recovery codes stand in for a second factor; with none left they mean nothing."""
        if not self.enabled_factors:
            self.recovery_salt = None
            self.recovery_hashes = []
            self.recovery_generated_at = None

    # ---- password, workspaces, alerts -------------------------------------------------------

    def change_password(self, password_hash: str, sso_enforced: bool, stamp: Stamp) -> None:
        if sso_enforced and not self.sso_disconnected:
            raise PasswordManagedByIdp(
                "your organisation signs you in through its identity provider; "
                "change the password there"
            )
        self._record(self.PasswordChanged, stamp, password_hash=password_hash)

    def grant_workspace(self, workspace: str, role: str, stamp: Stamp) -> None:
        self._record(self.WorkspaceMembershipGranted, stamp, workspace=workspace, role=role)

    def revoke_workspace(self, workspace: str, stamp: Stamp) -> None:
        if workspace not in self.workspaces:
            raise NotAMember(f"not a member of workspace {workspace!r}")
        self._record(self.WorkspaceMembershipRevoked, stamp, workspace=workspace)

    def set_security_alerts(self, on: bool, stamp: Stamp) -> None:
        self._record(self.AlertSettingsChanged, stamp, security=on)

    # ---- TOTP -------------------------------------------------------------------------------

    def start_totp_enrolment(self, stamp: Stamp, keep_pending: bool = False) -> str:
        """Draw a new secret; it is enabled only after a correct code. `keep_pending`: if an
        enrolment was started and not confirmed, its secret instead (an app may have scanned
        it already), recording nothing."""
        if self.totp_secret is not None:
            raise FactorAlreadyEnabled("the authenticator app is already enabled; disable it first")
        pending = self.pending_totp_secret(stamp.sealer)
        if keep_pending and pending is not None:
            return pending
        secret = totp.new_secret()
        self._record(self.TotpEnrolmentStarted, stamp, secret=stamp.sealer.seal(self.id, secret))
        return secret

    def pending_totp_secret(self, sealer: Sealer) -> str | None:
        """The secret of the enrolment waiting for its first code, for its owner to see again
        (after a mistyped code); None when none is waiting."""
        if self.totp_secret is not None or self.totp_pending_secret is None:
            return None
        return self._open(sealer, self.totp_pending_secret)

    def confirm_totp(self, code: str, stamp: Stamp) -> list[str]:
        """Enable the authenticator app; returns recovery codes if it is the first factor."""
        if self.totp_secret is not None:
            raise FactorAlreadyEnabled("the authenticator app is already enabled")
        if self.totp_pending_secret is None:
            raise NoPendingEnrolment("start with `mfa totp enrol` to get a secret first")
        secret = self._open(stamp.sealer, self.totp_pending_secret)
        step = totp.match_step(secret, code, stamp.at)
        if step is None:
            invalid = InvalidMfaCode("that code is not valid for this secret now")
            self._deny(invalid, "totp", stamp, "enrolment")
        self._record(self.TotpEnrolmentConfirmed, stamp, step=step)
        return self._recovery_codes_for_first_factor(stamp)

    def verify_totp(self, code: str, stamp: Stamp) -> None:
        """Accept a code once: its time step must come after the last one accepted."""
        self._require_factor("totp")
        step = self._verified("totp", stamp, lambda: self._check_totp(code, stamp))
        self._record(self.TotpCodeAccepted, stamp, step=step)

    def _check_totp(self, code: str, stamp: Stamp) -> int:
        assert self.totp_secret is not None
        step = totp.match_step(self._open(stamp.sealer, self.totp_secret), code, stamp.at)
        if step is None:
            raise InvalidMfaCode("invalid authenticator code")
        if self.totp_last_step is not None and step <= self.totp_last_step:
            raise MfaCodeReused("that code was already used")
        return step

    # ---- SMS --------------------------------------------------------------------------------

    def start_sms_enrolment(self, phone: str, stamp: Stamp) -> str:
        """Record a confirmation challenge for `phone` (E.164); returns the code to text."""
        if self.sms_phone is not None:
            raise FactorAlreadyEnabled("SMS is already enabled; disable it to change the number")
        code = new_sms_code()
        nonce = secrets.token_hex(8)
        self._record(
            self.SmsEnrolmentStarted,
            stamp,
            phone=stamp.sealer.seal(self.id, phone),
            code_hash=stamp.sealer.keyed_hash(self.id, f"{nonce}:{code}"),
            nonce=nonce,
            expires_at=stamp.at + SMS_CODE_LIFETIME,
        )
        return code

    def confirm_sms(self, code: str, stamp: Stamp) -> list[str]:
        if self.sms_phone is not None:
            raise FactorAlreadyEnabled("SMS is already enabled")
        pending = self.sms_pending
        if pending is None:
            raise NoPendingEnrolment("start with `mfa sms enrol` to get a code texted first")
        if stamp.at > pending["expires_at"]:
            expired = SmsCodeExpired("that code has expired; enrol again for a new one")
            self._deny(expired, "sms", stamp, "enrolment")
        attempt = stamp.sealer.keyed_hash(self.id, f"{pending['nonce']}:{code}")
        if not secrets.compare_digest(attempt, pending["code_hash"]):
            wrong = InvalidMfaCode("that is not the code we texted")
            self._deny(wrong, "sms", stamp, "enrolment")
        self._record(self.SmsEnrolmentConfirmed, stamp, phone=pending["phone"])
        return self._recovery_codes_for_first_factor(stamp)

    def start_sms_login_code(self, stamp: Stamp) -> str:
        """A login code for the enabled SMS factor (10 minutes, single use)."""
        if self.sms_phone is None:
            raise FactorNotEnabled("SMS is not enabled on this account")
        code = new_sms_code()
        nonce = secrets.token_hex(8)
        self._record(
            self.SmsLoginCodeSent,
            stamp,
            code_hash=stamp.sealer.keyed_hash(self.id, f"{nonce}:{code}"),
            nonce=nonce,
            expires_at=stamp.at + SMS_CODE_LIFETIME,
        )
        return code

    def text_sign_in_code(self, stamp: Stamp) -> str | None:
        """A sign-in code asked for from outside (the page, the API), which must not tell
        whether the account has a phone: the code to text, or None (the request is recorded
        all the same)."""
        if self.sms_phone is None:
            self.refuse_sms_sign_in_code(FactorNotEnabled.code, stamp)
            return None
        return self.start_sms_login_code(stamp)

    def refuse_sms_sign_in_code(self, reason: str, stamp: Stamp) -> None:
        """Record a request for a sign-in code that texted nothing, and why."""
        self._record(self.SmsLoginCodeRefused, stamp, reason=reason)

    def enabled_phone(self, sealer: Sealer) -> str:
        """The number login codes go to."""
        if self.sms_phone is None:
            raise FactorNotEnabled("SMS is not enabled on this account")
        return self._open(sealer, self.sms_phone)

    def verify_sms_code(self, code: str, stamp: Stamp) -> None:
        """Accept the last texted sign-in code once, within its 10 minutes."""
        self._require_factor("sms")
        self._verified("sms", stamp, lambda: self._check_sms_code(code, stamp))
        self._record(self.SmsCodeAccepted, stamp)

    def _check_sms_code(self, code: str, stamp: Stamp) -> None:
        sent = self.sms_login_code
        if sent is None:
            raise InvalidMfaCode("no sign-in code is outstanding; send a new one")
        if stamp.at > sent["expires_at"]:
            raise SmsCodeExpired("that code has expired; send a new one")
        attempt = stamp.sealer.keyed_hash(self.id, f"{sent['nonce']}:{code}")
        if not secrets.compare_digest(attempt, sent["code_hash"]):
            raise InvalidMfaCode("that is not the code we texted")

    # ---- disabling and recovery codes --------------------------------------------------------

    def disable_factor(
        self, factor: Factor, requirement: MfaRequirement | None, stamp: Stamp
    ) -> None:
        """Disable `factor`, unless `refusal_to_disable` says why not."""
        refused = self.refusal_to_disable(factor, requirement)
        if refused is not None:
            raise refused
        event = self.TotpDisabled if factor == "totp" else self.SmsDisabled
        self._record(event, stamp)

    def refusal_to_disable(
        self, factor: Factor, requirement: MfaRequirement | None
    ) -> LedgerError | None:
        """Why `factor` may not be disabled (None: it may): it is not enabled, or the
        organisation requires MFA and this is the last factor, or the last one its requirement
        counts (the app, when texted codes do not count). The Security tab asks before it
        offers "Disable"."""
        if factor not in self.enabled_factors:
            return FactorNotEnabled(f"{factor} is not enabled on this account")
        left = [f for f in self.enabled_factors if f != factor]
        if requirement is not None and (
            not left or (requirement.counts(self.enabled_factors) and not requirement.counts(left))
        ):
            return MfaRequiredByOrg(
                "your organisation requires MFA: enable another factor it accepts before "
                "disabling this one"
            )
        return None

    def regenerate_recovery_codes(self, stamp: Stamp) -> list[str]:
        """A fresh set of ten; every earlier code stops working."""
        if not self.enabled_factors:
            raise MfaNotEnabled("enable a second factor first; recovery codes come with it")
        return self._generate_recovery_codes(stamp, regenerated=True)

    def use_recovery_code(self, code: str, stamp: Stamp) -> None:
        """Spend one recovery code: it works once, and the set shrinks."""
        matched = self._verified("recovery_code", stamp, lambda: self._check_recovery_code(code))
        self._record(self.RecoveryCodeUsed, stamp, code_hash=matched)

    def _check_recovery_code(self, code: str) -> str:
        if self.recovery_salt is None or not self.recovery_hashes:
            raise InvalidRecoveryCode("this account has no recovery codes left")
        matched = recovery_codes.find_match(code, self.recovery_salt, self.recovery_hashes)
        if matched is None:
            raise InvalidRecoveryCode("that recovery code is not valid")
        return matched

    def _recovery_codes_for_first_factor(self, stamp: Stamp) -> list[str]:
        if self.recovery_hashes:
            return []
        return self._generate_recovery_codes(stamp, regenerated=False)

    def _generate_recovery_codes(self, stamp: Stamp, regenerated: bool) -> list[str]:
        code_set = recovery_codes.generate_set()
        self._record(
            self.RecoveryCodesGenerated,
            stamp,
            salt=code_set.salt,
            hashes=code_set.hashes,
            regenerated=regenerated,
        )
        return code_set.codes

    # ---- helpers ---------------------------------------------------------------------------

    def _deny(
        self,
        error: VerificationDenied,
        factor: VerifiedFactor,
        stamp: Stamp,
        challenge: Challenge = "sign_in",
    ) -> NoReturn:
        """Record the refused attempt, then refuse. The caller saves what was recorded."""
        self._record(
            self.VerificationFailed, stamp, factor=factor, reason=error.code, challenge=challenge
        )
        raise error

    def erase(self, by_org_admin: bool, stamp: Stamp) -> None:
        """Record the erasure; the caller then destroys the data key (nothing is deleted here)."""
        if not by_org_admin:
            raise AdminRequired("only an admin of the account's organisation can erase it")
        if not self.erased:
            self._record(self.Erased, stamp)

    def _require_factor(self, factor: Factor) -> None:
        if factor not in self.enabled_factors:
            raise FactorNotEnabled(f"{factor} is not enabled on this account")

    def _verified(self, factor: VerifiedFactor, stamp: Stamp, check: Callable[[], T]) -> T:
        """Run a code check outside sign-in; a refusal is recorded and counts as a failure."""
        if self.lockout.is_locked(stamp.at):
            self._deny(LockedOut(self.lockout.message()), factor, stamp)
        try:
            return check()
        except VerificationDenied as denied:
            self._deny(denied, factor, stamp)

    def _open(self, sealer: Sealer, sealed: str) -> str:
        plaintext = sealer.open(sealed)
        if plaintext is None:
            raise LedgerError("this account's keys were destroyed (erased)")
        return plaintext
