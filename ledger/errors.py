"""One hierarchy of refusals. Each carries the contract's reason code and the ids involved.

A `LedgerError` means "understood, but refused or denied" (exit 1). Bad input never gets this
far: it is rejected while the command is validated (exit 2).
"""

from __future__ import annotations


class LedgerError(Exception):
    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountNotFound(LedgerError):
    code = "unknown_user"

    def __init__(self, email: str) -> None:
        super().__init__(f"no account for {email}")
        self.email = email


class AccountAlreadyExists(LedgerError):
    code = "account_exists"

    def __init__(self, email: str) -> None:
        super().__init__(f"an account for {email} already exists")


class OrganisationNotFound(LedgerError):
    code = "unknown_org"

    def __init__(self, slug: str) -> None:
        super().__init__(f"no organisation {slug!r}")


class OrganisationAlreadyExists(LedgerError):
    code = "org_exists"

    def __init__(self, slug: str) -> None:
        super().__init__(f"organisation {slug!r} already exists")


class ClockBehind(LedgerError):
    """`--now` lies before what is already recorded: history is never rewritten."""

    code = "clock_behind"


class NotInOrganisation(LedgerError):
    code = "not_in_org"


class FactorAlreadyEnabled(LedgerError):
    code = "factor_already_enabled"


class FactorNotEnabled(LedgerError):
    code = "factor_not_enabled"


class NoPendingEnrolment(LedgerError):
    code = "no_pending_enrolment"


class MfaNotEnabled(LedgerError):
    code = "mfa_not_enabled"


class MfaRequiredByOrg(LedgerError):
    code = "mfa_required_by_org"


class VerificationDenied(LedgerError):
    """A second-factor code was refused. The attempt itself is recorded."""


class FreshFactorRequired(VerificationDenied):
    """A sensitive change from a session needs that session to have proven a factor just
    before. Recorded on the session, like a refused code."""

    code = "reauthentication_required"


class InvalidMfaCode(VerificationDenied):
    code = "invalid_mfa_code"


class MfaCodeReused(VerificationDenied):
    code = "mfa_code_reused"


class SmsCodeExpired(VerificationDenied):
    code = "sms_code_expired"


class InvalidRecoveryCode(VerificationDenied):
    code = "invalid_recovery_code"


class StoreNotInitialised(LedgerError):
    code = "store_not_initialised"


class StoreNotFound(LedgerError):
    """No ledger where the address points: a command that only reads never creates one, so a
    mistyped address is not answered as an empty ledger."""

    code = "store_not_found"

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


class EmptyLedger(LedgerError):
    """`verify --store` on a ledger holding no event: nothing was checked, nothing is intact."""

    code = "empty_ledger"

    def __init__(self, where: str) -> None:
        super().__init__(
            f"the ledger at {where} holds no events: there is nothing to verify (is this the "
            "store you meant? check --db or FLERO_LEDGER_DB)"
        )
        self.where = where


class StoreBusy(LedgerError):
    """Another connection reads the store as it was, so what was deleted cannot be purged yet."""

    code = "store_busy"


class SmsDeliveryFailed(LedgerError):
    code = "sms_delivery_failed"


class SmsGatewayMisconfigured(LedgerError):
    code = "sms_gateway_misconfigured"


class TooManyTexts(LedgerError):
    """Texting a sign-in code is throttled (ledger.sms_code_requests): none was texted, and
    asking again can succeed in `retry_after` seconds."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LockedOut(VerificationDenied):
    code = "locked_out"


class LoginDenied(VerificationDenied):
    """A refused sign-in. `reason` is the contract's reason code; the attempt is recorded."""

    code = "login_failed"

    def __init__(self, reason: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after  # seconds, when trying again later can succeed

    def __reduce__(self) -> tuple[type[LoginDenied], tuple[str, str, int | None]]:
        """Picklable with its reason (a refusal can cross from a worker process)."""
        return (type(self), (self.reason, self.message, self.retry_after))


class UnknownSession(LedgerError):
    code = "unknown_session"


class SessionExpired(LedgerError):
    code = "session_expired"


class SsoRequired(LedgerError):
    code = "sso_required"


class MfaEnrolmentRequired(LedgerError):
    """The organisation requires MFA and the member's grace period is over: the session may
    only enrol a factor and sign out."""

    code = "mfa_enrolment_required"


class UnknownApiKey(LedgerError):
    code = "unknown_api_key"


class AdminRequired(LedgerError):
    code = "admin_required"


class Tampered(LedgerError):
    """Verification found a record altered, removed, inserted or reordered."""

    code = "tampered"


class VerificationIncomplete(LedgerError):
    """Part of `verify --store` could not run (the snapshot audit's own process failed), so
    nothing is called intact."""

    code = "verification_incomplete"


class NotYetCreated(LedgerError):
    """Asked about an instant before the account existed."""

    code = "not_yet_created"
