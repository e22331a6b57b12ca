"""Authenticator-app (TOTP) enrolment: start, confirm with a code, verify a code."""

from __future__ import annotations

from dataclasses import dataclass

from commands.inputs import Actor, Email, SixDigitCode
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import acting_session, require_enrolment_allowed, with_session
from ledger import totp


class EnrolTotp(Actor):
    email: Email
    # The page: show again the secret of an enrolment started and not confirmed, so that an
    # app which scanned it keeps working; the command line and the API draw a new one.
    keep_pending: bool = False


class ConfirmTotp(Actor):
    email: Email
    code: SixDigitCode


class VerifyTotp(Actor):
    email: Email
    code: SixDigitCode


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str  # shown to its owner only, never logged
    otpauth_uri: str


@retry_on_conflict
def enrol_totp(services: Services, cmd: EnrolTotp) -> TotpEnrolment:
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    require_enrolment_allowed(services, account, cmd, "enrol_totp", stamp)
    secret = account.start_totp_enrolment(stamp, keep_pending=cmd.keep_pending)
    services.save(account)
    return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, cmd.email))


def pending_totp_enrolment(services: Services, email: str) -> TotpEnrolment | None:
    """The enrolment `email` started and has not confirmed, to show its owner again (the page,
    after a mistyped code); None if none is waiting. Only for the signed-in account's own
    address: the caller answers for that."""
    secret = services.store.account(email).pending_totp_secret(services.store.keyring)
    if secret is None:
        return None
    return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, email))


@retry_on_conflict
def confirm_totp(services: Services, cmd: ConfirmTotp) -> list[str]:
    """Enable the app; returns the recovery codes when it is the account's first factor."""
    account = services.store.account(cmd.email)
    with services.recording(account):
        return account.confirm_totp(cmd.code, services.stamp(cmd))


@retry_on_conflict
def verify_totp(services: Services, cmd: VerifyTotp) -> None:
    """Accept a code once; from a session, it proves a factor there."""
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    session = acting_session(services, account, cmd, stamp)
    with services.recording(*with_session(account, session)):
        account.verify_totp(cmd.code, stamp)
        if session is not None:
            session.prove_factor("totp", stamp)
