"""SMS as a second factor, as a user sets it up and signs in with it from the command line.

Texts go to the development `outbox` gateway, which `sms outbox` reads back.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from ledger.store import LedgerStore
from tests.conftest import Ledger

PHONE = "+14155550123"
MASKED_PHONE = "+1•••••0123"
SIX_DIGITS = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")

# Where the eventsourcing library keeps the raw events on each store.


# ---- steps a user takes ----------------------------------------------------------------------


def code_in(text: str) -> str:
    """The code in a text message: by contract, its only run of 6 digits."""
    codes = SIX_DIGITS.findall(text)
    assert len(codes) == 1, text
    return str(codes[0])


def last_text_to(ledger: Ledger, phone: str = PHONE) -> dict[str, str]:
    texts = ledger.ok("sms", "outbox", "--to", phone)
    assert texts, f"nothing was texted to {phone}"
    return dict(texts[0])


def enrol(ledger: Ledger, email: str, phone: str = PHONE) -> str:
    """Add a phone number; returns the confirmation code texted to it."""
    assert ledger.ok("mfa", "sms", "enrol", email, "--phone", phone) == {"ok": True, "sent": True}
    return code_in(last_text_to(ledger, phone)["body"])


def confirm(ledger: Ledger, email: str, code: str) -> dict[str, Any]:
    return dict(ledger.ok("mfa", "sms", "confirm", email, code))


def enable_sms(ledger: Ledger, email: str, phone: str = PHONE) -> None:
    assert confirm(ledger, email, enrol(ledger, email, phone))["enabled"] is True


def send_sign_in_code(ledger: Ledger, email: str, phone: str = PHONE) -> str:
    assert ledger.ok("mfa", "sms", "send-code", email) == {"ok": True, "sent": True}
    return code_in(last_text_to(ledger, phone)["body"])


def verify(ledger: Ledger, email: str, code: str) -> dict[str, Any]:
    return dict(ledger.ok("mfa", "sms", "verify", email, code))


def enable_totp(ledger: Ledger, email: str) -> None:
    secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
    ledger.ok("mfa", "totp", "confirm", email, pyotp.TOTP(secret).at(ledger.now))


def wrong(code: str) -> str:
    """A well-formed code that is certainly not `code`."""
    return f"{(int(code) + 1) % 10**6:06d}"


def sms_failures(ledger: Ledger, email: str) -> list[dict[str, Any]]:
    return [
        entry["details"]
        for entry in ledger.ok("audit", email)
        if entry["action"] == "mfa_verification_failed"
    ]


def raw_event_states(store: LedgerStore) -> list[bytes]:
    """Every stored event's state, as bytes, read straight from the event table."""
    with store.database.transaction() as tx:
        rows = tx.fetchall(f"SELECT state FROM {store.event_table}")
    return [bytes(row[0]) for row in rows]


# ---- enrolment ---------------------------------------------------------------------------


def test_enrol_texts_a_code_and_confirming_it_enables_sms_with_recovery_codes(
    ledger: Ledger, account: str
) -> None:
    code = enrol(ledger, account)

    text = last_text_to(ledger)
    assert text["to"] == PHONE
    assert text["sent_at"] == "2026-11-14T09:00:00Z"
    assert ledger.ok("mfa", "status", account)["sms"] == {"enabled": False, "phone": None}

    confirmed = ledger.later(minutes=2).ok("mfa", "sms", "confirm", account, code)

    assert confirmed["enabled"] is True
    assert len(set(confirmed["recovery_codes"])) == 10
    status = ledger.ok("mfa", "status", account)
    assert status["sms"] == {"enabled": True, "phone": MASKED_PHONE}
    assert status["recovery_codes"]["remaining"] == 10
    enabled = [e for e in ledger.ok("audit", account) if e["action"] == "mfa_enabled"]
    assert enabled[0]["details"] == {"factor": "sms", "phone": MASKED_PHONE}


def test_the_outbox_lists_texts_newest_first_and_filters_by_number(ledger: Ledger) -> None:
    ledger.ok("org", "create", "acme")
    for email in ("ada@acme.test", "bob@acme.test"):
        ledger.ok("user", "create", email, "--org", "acme")
    enrol(ledger, "ada@acme.test", PHONE)
    enrol(ledger.later(minutes=1), "bob@acme.test", "+447911123456")
    enrol(ledger.later(minutes=1), "ada@acme.test", PHONE)

    texts = ledger.ok("sms", "outbox")

    assert [(t["to"], t["sent_at"]) for t in texts] == [
        ("+14155550123", "2026-11-14T09:02:00Z"),
        ("+447911123456", "2026-11-14T09:01:00Z"),
        ("+14155550123", "2026-11-14T09:00:00Z"),
    ]
    assert all(set(t) == {"to", "body", "sent_at"} for t in texts)
    assert [t["to"] for t in ledger.ok("sms", "outbox", "--to", "+447911123456")] == [
        "+447911123456"
    ]


def test_a_number_written_with_spaces_is_stored_in_e164_form(ledger: Ledger, account: str) -> None:
    enrol(ledger, account, "+1 415 555 0123")

    assert last_text_to(ledger, PHONE)["to"] == PHONE


def test_sms_after_an_authenticator_app_hands_out_no_new_recovery_codes(
    ledger: Ledger, account: str
) -> None:
    enable_totp(ledger, account)

    confirmed = confirm(ledger, account, enrol(ledger, account))

    assert confirmed == {"ok": True, "enabled": True, "recovery_codes": []}
    status = ledger.ok("mfa", "status", account)
    assert status["totp"]["enabled"] is True
    assert status["sms"] == {"enabled": True, "phone": MASKED_PHONE}
    assert status["recovery_codes"]["remaining"] == 10


def test_a_wrong_code_is_refused_and_recorded(ledger: Ledger, account: str) -> None:
    code = enrol(ledger, account)
    before = ledger.event_count()

    error = ledger.refused("mfa", "sms", "confirm", account, wrong(code), code="invalid_mfa_code")

    assert "not the code we texted" in error["error"]["message"]
    assert ledger.event_count() == before + 1
    assert sms_failures(ledger, account) == [{"factor": "sms", "reason": "invalid_mfa_code"}]
    assert ledger.ok("mfa", "status", account)["sms"]["enabled"] is False
    # One slip does not void the code.
    assert confirm(ledger, account, code)["enabled"] is True


def test_a_confirmation_code_still_works_one_second_before_ten_minutes(
    ledger: Ledger, account: str
) -> None:
    code = enrol(ledger, account)

    assert confirm(ledger.later(minutes=9, seconds=59), account, code)["enabled"] is True


def test_a_confirmation_code_expires_after_ten_minutes_and_the_attempt_is_recorded(
    ledger: Ledger, account: str
) -> None:
    code = enrol(ledger, account)
    before = ledger.event_count()

    ledger.later(minutes=10, seconds=1)
    ledger.refused("mfa", "sms", "confirm", account, code, code="sms_code_expired")

    assert ledger.event_count() == before + 1
    assert sms_failures(ledger, account) == [{"factor": "sms", "reason": "sms_code_expired"}]
    assert ledger.ok("mfa", "status", account)["sms"]["enabled"] is False


def test_four_wrong_codes_still_leave_the_right_one_working(ledger: Ledger, account: str) -> None:
    code = enrol(ledger, account)
    for _ in range(4):
        ledger.refused("mfa", "sms", "confirm", account, wrong(code), code="invalid_mfa_code")

    assert confirm(ledger, account, code)["enabled"] is True


def test_five_wrong_codes_void_the_pending_code_until_enrolling_again(
    ledger: Ledger, account: str
) -> None:
    code = enrol(ledger, account)
    for _ in range(5):
        ledger.refused("mfa", "sms", "confirm", account, wrong(code), code="invalid_mfa_code")

    ledger.refused("mfa", "sms", "confirm", account, code, code="no_pending_enrolment")

    assert len(sms_failures(ledger, account)) == 5
    assert confirm(ledger, account, enrol(ledger, account))["enabled"] is True


def test_a_confirmation_code_works_once(ledger: Ledger, account: str) -> None:
    code = enrol(ledger, account)
    confirm(ledger, account, code)

    ledger.refused("mfa", "sms", "confirm", account, code, code="factor_already_enabled")
    ledger.refused("mfa", "sms", "enrol", account, "--phone", PHONE, code="factor_already_enabled")


def test_confirming_without_enrolling_is_refused(ledger: Ledger, account: str) -> None:
    ledger.refused("mfa", "sms", "confirm", account, "123456", code="no_pending_enrolment")


def test_only_the_latest_confirmation_code_counts(ledger: Ledger, account: str) -> None:
    first = enrol(ledger, account)
    second = enrol(ledger, account)

    if first != second:  # one chance in a million that the two draws coincide
        ledger.refused("mfa", "sms", "confirm", account, first, code="invalid_mfa_code")
    assert confirm(ledger, account, second)["enabled"] is True


# ---- signing in with a texted code ---------------------------------------------------------


def test_a_sign_in_code_is_texted_and_accepted_once(ledger: Ledger, account: str) -> None:
    enable_sms(ledger, account)

    code = send_sign_in_code(ledger.later(minutes=1), account)

    assert "sign-in code" in last_text_to(ledger)["body"]
    assert verify(ledger, account, code) == {"ok": True, "verified": True}
    before = ledger.event_count()
    ledger.refused("mfa", "sms", "verify", account, code, code="invalid_mfa_code")
    assert ledger.event_count() == before + 1
    assert sms_failures(ledger, account) == [{"factor": "sms", "reason": "invalid_mfa_code"}]


def test_a_wrong_sign_in_code_is_refused_and_recorded(ledger: Ledger, account: str) -> None:
    enable_sms(ledger, account)
    code = send_sign_in_code(ledger, account)
    before = ledger.event_count()

    ledger.refused("mfa", "sms", "verify", account, wrong(code), code="invalid_mfa_code")

    assert ledger.event_count() == before + 1
    assert sms_failures(ledger, account) == [{"factor": "sms", "reason": "invalid_mfa_code"}]
    assert verify(ledger, account, code)["verified"] is True


def test_five_wrong_sign_in_codes_void_the_code_so_it_cannot_be_guessed(
    ledger: Ledger, account: str
) -> None:
    enable_sms(ledger, account)
    code = send_sign_in_code(ledger, account)
    for _ in range(5):
        ledger.refused("mfa", "sms", "verify", account, wrong(code), code="invalid_mfa_code")

    ledger.refused("mfa", "sms", "verify", account, code, code="invalid_mfa_code")

    assert verify(ledger, account, send_sign_in_code(ledger, account))["verified"] is True


def test_a_sign_in_code_lasts_ten_minutes(ledger: Ledger, account: str) -> None:
    enable_sms(ledger, account)
    on_time = send_sign_in_code(ledger, account)
    assert verify(ledger.later(minutes=9, seconds=59), account, on_time)["verified"] is True

    late = send_sign_in_code(ledger, account)
    ledger.later(minutes=10, seconds=1)
    ledger.refused("mfa", "sms", "verify", account, late, code="sms_code_expired")

    assert sms_failures(ledger, account) == [{"factor": "sms", "reason": "sms_code_expired"}]


def test_a_new_sign_in_code_replaces_the_previous_one(ledger: Ledger, account: str) -> None:
    enable_sms(ledger, account)
    first = send_sign_in_code(ledger, account)
    second = send_sign_in_code(ledger.later(minutes=1), account)

    if first != second:  # one chance in a million that the two draws coincide
        ledger.refused("mfa", "sms", "verify", account, first, code="invalid_mfa_code")
    assert verify(ledger, account, second)["verified"] is True


def test_sign_in_codes_need_sms_enabled(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    ledger.refused("mfa", "sms", "send-code", account, code="factor_not_enabled")
    ledger.refused("mfa", "sms", "verify", account, "123456", code="factor_not_enabled")

    assert ledger.event_count() == before
    assert ledger.ok("sms", "outbox") == []


# ---- bad input is refused before anything is recorded -----------------------------------------


@pytest.mark.parametrize("phone", ["12345", "+1415", "not-a-phone", "+999999999999999", ""])
def test_a_malformed_phone_number_is_bad_input(ledger: Ledger, account: str, phone: str) -> None:
    before = ledger.event_count()

    result = ledger.bad_input("mfa", "sms", "enrol", account, "--phone", phone)

    assert "E.164" in result.output
    assert ledger.event_count() == before
    assert ledger.ok("sms", "outbox") == []


MALFORMED_CODES = ["12345", "1234567", "abcdef", "12345a", "", "１２３４５６"]


@pytest.mark.parametrize("code", MALFORMED_CODES)
def test_a_malformed_confirmation_code_is_bad_input(
    ledger: Ledger, account: str, code: str
) -> None:
    enrol(ledger, account)
    before = ledger.event_count()

    result = ledger.bad_input("mfa", "sms", "confirm", account, code)

    assert "6-digit code" in result.output
    assert ledger.event_count() == before


@pytest.mark.parametrize("code", MALFORMED_CODES)
def test_a_malformed_sign_in_code_is_bad_input(ledger: Ledger, account: str, code: str) -> None:
    enable_sms(ledger, account)
    send_sign_in_code(ledger, account)
    before = ledger.event_count()

    result = ledger.bad_input("mfa", "sms", "verify", account, code)

    assert "6-digit code" in result.output
    assert ledger.event_count() == before


def test_codes_may_be_typed_with_spaces(ledger: Ledger, account: str) -> None:
    code = enrol(ledger, account)
    assert confirm(ledger, account, f"{code[:3]} {code[3:]}")["enabled"] is True

    sign_in = send_sign_in_code(ledger, account)
    spaced = " ".join(sign_in[i : i + 2] for i in range(0, 6, 2))
    assert verify(ledger, account, spaced)["verified"] is True


# ---- privacy and warnings -----------------------------------------------------------------


def test_neither_the_number_nor_the_codes_are_stored_in_clear_in_the_events(
    ledger: Ledger, account: str, store: LedgerStore, backend: str
) -> None:
    confirmation = enrol(ledger, account)
    ledger.refused("mfa", "sms", "confirm", account, wrong(confirmation), code="invalid_mfa_code")
    confirm(ledger, account, confirmation)
    sign_in = send_sign_in_code(ledger, account)
    ledger.ok("mfa", "sms", "verify", account, sign_in)

    states = raw_event_states(store)

    assert len(states) == ledger.event_count()
    assert any(b'"phone":"sealed:v1:' in state for state in states)
    for secret in ("4155550123", confirmation, sign_in):
        leaks = [state for state in states if secret.encode() in state]
        assert leaks == [], f"{secret} is stored in clear: {leaks}"


def test_human_status_warns_that_sms_is_the_weaker_factor(ledger: Ledger, account: str) -> None:
    before = ledger.run("mfa", "status", account)
    assert before.exit_code == 0, before.output
    assert "SIM swap" in before.stdout

    enable_sms(ledger, account)
    after = ledger.run("mfa", "status", account)

    assert "SIM swap" in after.stdout
    assert MASKED_PHONE in after.stdout
    assert "4155550123" not in after.stdout
