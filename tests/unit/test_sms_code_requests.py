"""The throttles on texting sign-in codes, in memory: per address, per source, and what an
account records when asked (ledger.sms_code_requests, ledger.sign_in_source, ledger.account)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from ledger.account import Account
from ledger.errors import TooManyTexts
from ledger.sign_in_source import SignInSource
from ledger.sms_code_requests import SmsCodeRequests
from tests.unit.test_sessions import stamp

T0 = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)


def asked(requests: SmsCodeRequests, at: datetime) -> TooManyTexts | None:
    """Ask once at `at`: the refusal, or None after counting the request."""
    refused = requests.refusal(at)
    if refused is None:
        requests.count(stamp(at))
    return refused


def new_requests() -> SmsCodeRequests:
    return SmsCodeRequests.first_seen(uuid4(), stamp(T0))


def test_an_address_gets_three_codes_in_ten_minutes_then_waits_for_the_oldest_to_leave() -> None:
    requests = new_requests()
    for minute in (0, 1, 2):
        assert asked(requests, T0 + timedelta(minutes=minute)) is None

    refused = asked(requests, T0 + timedelta(minutes=3))

    assert refused is not None
    assert (refused.code, refused.retry_after) == ("too_many_attempts", 7 * 60)
    assert asked(requests, T0 + timedelta(minutes=10) - timedelta(seconds=1)) is not None
    assert asked(requests, T0 + timedelta(minutes=10)) is None


def test_an_address_gets_ten_codes_a_day_however_they_are_spread() -> None:
    requests = new_requests()
    for n in range(10):
        assert asked(requests, T0 + timedelta(hours=n)) is None

    refused = asked(requests, T0 + timedelta(hours=10))

    assert refused is not None and refused.retry_after == 14 * 3600
    assert asked(requests, T0 + timedelta(hours=24)) is None


def test_refusals_are_not_counted_so_waiting_clears_the_limit() -> None:
    requests = new_requests()
    for second in range(3):
        asked(requests, T0 + timedelta(seconds=second))
    for minute in range(1, 10):
        assert asked(requests, T0 + timedelta(minutes=minute)) is not None

    assert asked(requests, T0 + timedelta(minutes=10, seconds=1)) is None
    assert len(requests.recent) == 4


def test_the_address_stream_remembers_only_what_its_limits_can_still_count() -> None:
    requests = new_requests()
    for day in range(30):
        asked(requests, T0 + timedelta(days=day))

    assert requests.recent == (T0 + timedelta(days=29),)


def test_a_source_may_ask_for_fifty_codes_a_day_across_every_address() -> None:
    source = SignInSource.first_seen(uuid4(), "203.0.113.9", stamp(T0))
    for n in range(50):
        at = T0 + timedelta(minutes=n)
        assert source.texting_refusal(at) is None
        source.count_sms_code_request(stamp(at))

    refused = source.texting_refusal(T0 + timedelta(hours=1))

    assert refused is not None and refused.retry_after == 23 * 3600
    assert source.throttled_for(T0 + timedelta(hours=1)) is None  # sign-ins are not affected
    assert source.texting_refusal(T0 + timedelta(days=1, minutes=1)) is None


def test_a_source_throttled_for_failed_sign_ins_gets_no_texts_either() -> None:
    source = SignInSource.first_seen(uuid4(), "203.0.113.9", stamp(T0))
    for n in range(100):
        source.count_failure("invalid_password", stamp(T0 + timedelta(seconds=n)))

    refused = source.texting_refusal(T0 + timedelta(minutes=5))

    assert refused is not None
    assert refused.message == "too many failed sign-ins from your network: try again later"


def test_an_account_without_a_phone_records_the_request_and_texts_nothing() -> None:
    account = Account.create(uuid4(), uuid4(), "ada@acme.test", None, stamp(T0))
    account.collect_events()

    assert account.text_sign_in_code(stamp(T0 + timedelta(minutes=1))) is None

    (recorded,) = account.collect_events()
    assert isinstance(recorded, Account.SmsLoginCodeRefused)
    assert recorded.reason == "factor_not_enabled"


def test_an_account_with_a_phone_records_the_code_sent_as_the_command_line_does() -> None:
    account = Account.create(uuid4(), uuid4(), "ada@acme.test", None, stamp(T0))
    code = account.start_sms_enrolment("+14155550123", stamp(T0))
    account.confirm_sms(code, stamp(T0))
    account.collect_events()

    texted = account.text_sign_in_code(stamp(T0 + timedelta(minutes=1)))

    assert texted is not None and len(texted) == 6
    (recorded,) = account.collect_events()
    assert isinstance(recorded, Account.SmsLoginCodeSent)
    assert texted not in recorded.model_dump_json()
