"""SMS as a second factor: enrol a number, confirm it with the texted code, send login codes."""

from __future__ import annotations

import logging

from commands.inputs import (
    Actor,
    CommandInput,
    Email,
    IpAddress,
    PhoneE164,
    SixDigitCode,
    UserAgent,
)
from commands.login import sign_in_source
from commands.retry import retry_on_conflict
from commands.services import Services
from commands.step_up import acting_session, require_enrolment_allowed, with_session
from ledger import identity
from ledger.account import Account
from ledger.errors import LedgerError
from ledger.events import Context, Stamp
from ledger.sms_code_requests import SmsCodeRequests
from ledger.sms_gateway import TextMessage

log = logging.getLogger(__name__)
SIGN_IN_CODE = "Your Flero sign-in code is {code}. It expires in 10 minutes."


class EnrolSms(Actor):
    email: Email
    phone: PhoneE164


class ConfirmSms(Actor):
    email: Email
    code: SixDigitCode


class SendSmsCode(Actor):
    email: Email


class RequestSmsSignInCode(CommandInput):
    """Someone at `ip` asks for a sign-in code to be texted to the phone of `email`'s account
    (the page's "Text me a code", `POST /api/login/sms-code`): no password, no session."""

    email: Email
    ip: IpAddress
    user_agent: UserAgent


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
    gateway.send(TextMessage(to=phone, body=SIGN_IN_CODE.format(code=code), sent_at=stamp.at))


@retry_on_conflict
def request_sms_sign_in_code(services: Services, cmd: RequestSmsSignInCode) -> TextMessage | None:
    """Record the request, and the code when there is one to text; returns the text, for
    `deliver` once the request is answered. The answer is the same whoever holds the address
    (an account with a phone for sign-in, one without, nobody), and so is when it turns into
    TooManyTexts (ledger.sms_code_requests, ledger.sign_in_source). A refusal that concerns an
    account is recorded on it; for an address with no account nothing tells it apart."""
    services.sms_gateway()  # a misconfigured gateway refuses first, whatever the address
    stamp = services.stamp_for(Context(ip=cmd.ip, user_agent=cmd.user_agent))
    source = sign_in_source(services, cmd.ip, stamp)
    requests = _sms_code_requests(services, cmd.email, stamp)
    account = services.store.live_account(cmd.email)
    concerned: list[Account] = [account] if account is not None else []
    refused = source.texting_refusal(stamp.at) or requests.refusal(stamp.at)
    if refused is not None:
        for holder in concerned:
            holder.refuse_sms_sign_in_code(refused.code, stamp)
        services.save(*concerned)
        raise refused
    source.count_sms_code_request(stamp)
    requests.count(stamp)
    code = account.text_sign_in_code(stamp) if account is not None else None
    services.save(source, requests, *concerned)
    if account is None or code is None:
        return None
    body = SIGN_IN_CODE.format(code=code)
    return TextMessage(to=account.enabled_phone(stamp.sealer), body=body, sent_at=stamp.at)


def deliver(services: Services, text: TextMessage) -> None:
    """Hand a requested sign-in code to the gateway, after the request was answered (so that
    neither the time a delivery takes nor its failure tells the asker the address has a
    phone). A failure is logged, without the number or the code; the owner can ask again."""
    try:
        services.sms_gateway().send(text)
    except LedgerError as failed:
        log.warning("a requested sign-in code could not be texted (%s)", failed.code)


def _sms_code_requests(services: Services, email: str, stamp: Stamp) -> SmsCodeRequests:
    """The address's requests so far; a new stream (saved with its first count) if none."""
    lookup = services.store.keyring.lookup_hash(email)
    stream_id = identity.sms_code_requests_id(lookup)
    found = services.store.app.find_sms_code_requests(stream_id)
    return found or SmsCodeRequests.first_seen(stream_id, stamp)


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
