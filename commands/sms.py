"""SMS as a second factor: enrol a number, confirm it with the texted code, send login codes."""

from __future__ import annotations

from commands.inputs import Actor, Email, PhoneE164, SixDigitCode
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import acting_session, require_enrolment_allowed, with_session
from ledger.sms_gateway import TextMessage


class EnrolSms(Actor):
    email: Email
    phone: PhoneE164


class ConfirmSms(Actor):
    email: Email
    code: SixDigitCode


class SendSmsCode(Actor):
    email: Email


class VerifySmsCode(Actor):
    email: Email
    code: SixDigitCode


@retry_on_conflict
def enrol_sms(services: Services, cmd: EnrolSms) -> None:
    """Record the challenge first, then text it: a text never carries an unrecorded code."""
    gateway = services.sms_gateway()  # a misconfigured gateway refuses before anything is recorded
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    require_enrolment_allowed(services, account, cmd, "enrol_sms", stamp)
    code = account.start_sms_enrolment(cmd.phone, stamp)
    services.save(account)
    body = f"Your Flero confirmation code is {code}. It expires in 10 minutes."
    gateway.send(TextMessage(to=cmd.phone, body=body, sent_at=stamp.at))


@retry_on_conflict
def confirm_sms(services: Services, cmd: ConfirmSms) -> list[str]:
    account = services.store.account(cmd.email)
    with services.recording(account):
        return account.confirm_sms(cmd.code, services.stamp(cmd))


@retry_on_conflict
def send_sms_login_code(services: Services, cmd: SendSmsCode) -> None:
    gateway = services.sms_gateway()
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    code = account.start_sms_login_code(stamp)
    phone = account.enabled_phone(stamp.sealer)
    services.save(account)
    body = f"Your Flero sign-in code is {code}. It expires in 10 minutes."
    gateway.send(TextMessage(to=phone, body=body, sent_at=stamp.at))


@retry_on_conflict
def verify_sms_code(services: Services, cmd: VerifySmsCode) -> None:
    """Accept the texted code once; from a session, it proves a factor there."""
    account = services.store.account(cmd.email)
    stamp = services.stamp(cmd)
    session = acting_session(services, account, cmd, stamp)
    with services.recording(*with_session(account, session)):
        account.verify_sms_code(cmd.code, stamp)
        if session is not None:
            session.prove_factor("sms", stamp)
