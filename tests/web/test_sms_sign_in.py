"""Signing in with a texted code, over the API and on the page, on both stores.

Ada uses SMS and nothing else (enrolled from the command line); Bob has no phone; nobody holds
nobody@acme.test. She asks for a code (`POST /api/login/sms-code`, or "Text me a code" on the
sign-in form), reads it in the outbox, and signs in with it beside her password. Asking takes
only an address, so it answers alike whoever holds it, and is throttled.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.store_location import StoreLocation
from tests.cli.test_sms import PHONE, code_in, enable_sms
from tests.conftest import Ledger
from tests.web.conftest import PASSWORD, MovableClock, error_code, login_csrf, sign_in
from web.api import SMS_CODE_ASKED
from web.app import create_app

ADA, BOB, NOBODY = "ada@acme.test", "bob@acme.test", "nobody@acme.test"
EVERYONE = (ADA, BOB, NOBODY)


@pytest.fixture
def texting(client: TestClient, ledger: Ledger) -> TestClient:
    """The web app, with Ada's phone enrolled as her only factor."""
    enable_sms(ledger, ADA)
    return client


def ask(client: TestClient, email: str) -> Any:
    return client.post("/api/login/sms-code", json={"email": email})


def texts(ledger: Ledger) -> list[dict[str, str]]:
    """Every text in the outbox, newest first (the first is her enrolment's)."""
    return list(ledger.ok("sms", "outbox"))


def newest_code(ledger: Ledger) -> str:
    texted = texts(ledger)[0]
    assert texted["to"] == PHONE
    return code_in(texted["body"])


def with_password(code: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": ADA, "method": "password", "password": password, "sms": code}


def audit_actions(ledger: Ledger, email: str, action: str) -> list[dict[str, Any]]:
    return [e["details"] for e in ledger.ok("audit", email) if e["action"] == action]


# ---- over the API ----------------------------------------------------------------------------


def test_an_sms_only_user_signs_in_over_the_api_with_the_code_texted_to_her(
    texting: TestClient, ledger: Ledger
) -> None:
    asked = ask(texting, ADA)

    assert asked.status_code == 202
    assert asked.json() == SMS_CODE_ASKED
    code = newest_code(ledger)
    signed_in = texting.post("/api/login", json=with_password(code))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["factor"] == "sms"
    spent = texting.post("/api/login", json=with_password(code))
    assert (spent.status_code, spent.json()["reason"]) == (401, "invalid_mfa_code")
    me = {"Authorization": f"Bearer {signed_in.json()['session_token']}"}
    history = texting.get("/api/history", headers=me).json()
    assert [(h["outcome"], h["factor"]) for h in history] == [("failed", "sms"), ("success", "sms")]


def test_the_texted_code_is_a_second_factor_only_and_the_password_is_still_required(
    texting: TestClient, ledger: Ledger
) -> None:
    """Whoever reads her texts (a SIM swap) holds a code, not a sign-in."""
    ask(texting, ADA)
    code = newest_code(ledger)

    wrong = texting.post("/api/login", json=with_password(code, "a guessed password"))
    assert (wrong.status_code, wrong.json()["reason"]) == (401, "invalid_password")
    without = texting.post("/api/login", json={"email": ADA, "method": "password", "sms": code})
    assert without.status_code == 422
    assert texting.post("/api/login", json=with_password(code)).status_code == 200


def test_asking_answers_alike_whoever_holds_the_address(
    texting: TestClient, ledger: Ledger
) -> None:
    answers = [ask(texting, email) for email in EVERYONE]

    assert {(a.status_code, a.text) for a in answers} == {(202, answers[0].text)}
    assert len({tuple(sorted(a.headers.items())) for a in answers}) == 1
    assert len(texts(ledger)) == 2  # her enrolment's, and the one code asked for her
    assert audit_actions(ledger, BOB, "sms_code_refused") == [{"reason": "factor_not_enabled"}]
    assert audit_actions(ledger, ADA, "sms_code_refused") == []
    on_the_day = ledger.ok("timeline", ADA, "--on", "2026-11-14")
    assert on_the_day[-1]["event"] == "SmsLoginCodeSent"
    assert on_the_day[-1]["ip"] == "0.0.0.0"  # the test client's address is unknown


def test_asking_is_throttled_per_address_alike_whoever_holds_it(
    texting: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    for _ in range(3):
        assert {ask(texting, email).status_code for email in EVERYONE} == {202}
    clock.advance(minutes=1)

    refused = [ask(texting, email) for email in EVERYONE]

    assert {(a.status_code, a.text, a.headers["retry-after"]) for a in refused} == {
        (429, refused[0].text, "540")
    }
    assert error_code(refused[0]) == "too_many_attempts"
    assert len(texts(ledger)) == 1 + 3
    assert audit_actions(ledger, ADA, "sms_code_refused") == [{"reason": "too_many_attempts"}]
    assert audit_actions(ledger, BOB, "sms_code_refused")[0] == {"reason": "too_many_attempts"}
    clock.advance(minutes=9)
    assert {ask(texting, email).status_code for email in EVERYONE} == {202}
    assert len(texts(ledger)) == 1 + 4


def test_one_network_may_ask_for_fifty_codes_a_day_across_every_address(
    texting: TestClient, store_url: str, clock: MovableClock, ledger: Ledger
) -> None:
    app = create_app(StoreLocation.parse(store_url), clock)
    with TestClient(app, client=("203.0.113.7", 40_000)) as elsewhere:
        for n in range(50):
            assert ask(elsewhere, f"user{n}@acme.test").status_code == 202
        refused = ask(elsewhere, ADA)

    assert refused.status_code == 429
    assert 23 * 3600 < int(refused.headers["retry-after"]) <= 24 * 3600
    assert audit_actions(ledger, ADA, "sms_code_refused") == [{"reason": "too_many_attempts"}]
    assert ask(texting, ADA).status_code == 202  # from another network, she still can


def test_a_malformed_request_is_bad_input_and_records_nothing(
    texting: TestClient, ledger: Ledger
) -> None:
    before = ledger.event_count()
    for body in (
        {"email": "not an address"},
        {},
        {"email": "x" * 250 + "@acme.test"},
        {"email": ADA, "password": PASSWORD},  # a field this route does not take
    ):
        answer = texting.post("/api/login/sms-code", json=body)
        assert answer.status_code == 422, body
        assert error_code(answer) == "invalid_input"
    assert ledger.event_count() == before
    assert len(texts(ledger)) == 1


def test_a_text_that_cannot_be_delivered_answers_alike_and_is_logged_without_the_number(
    ledger: Ledger,
    store_url: str,
    clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme", "--password-stdin", stdin=PASSWORD)
    enable_sms(ledger, ADA)
    monkeypatch.setenv("FLERO_LEDGER_SMS_GATEWAY", "webhook")
    monkeypatch.setenv("FLERO_LEDGER_SMS_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")

    with (
        caplog.at_level(logging.WARNING, logger="commands.sms"),
        TestClient(create_app(StoreLocation.parse(store_url), clock)) as client,
    ):
        answers = [ask(client, email) for email in (ADA, NOBODY)]

    assert {(a.status_code, a.text) for a in answers} == {(202, answers[0].text)}
    assert "could not be texted (sms_delivery_failed)" in caplog.text
    assert PHONE not in caplog.text and "0123" not in caplog.text


# ---- on the page -------------------------------------------------------------------------------


def text_me_a_code(client: TestClient, email: str, **more: str) -> Any:
    form = {"email": email, "login_csrf": login_csrf(client), **more}
    return client.post("/signin/sms-code", data=form)


def test_text_me_a_code_on_the_sign_in_page_then_sign_in_with_it(
    texting: TestClient, ledger: Ledger
) -> None:
    page = text_me_a_code(texting, ADA, password="typed before asking")

    assert page.status_code == 200
    assert 'id="sms-sent"' in page.text and 'name="sms"' in page.text
    assert "typed before asking" not in page.text  # a password is never written into a page
    code = newest_code(ledger)
    form = {"email": ADA, "password": PASSWORD, "login_csrf": login_csrf(texting)}
    wrong = texting.post("/signin", data={**form, "sms": f"{(int(code) + 1) % 10**6:06d}"})
    assert wrong.status_code == 401
    assert 'name="sms"' in wrong.text  # the field stays for the next try
    signed_in = texting.post(
        "/signin", data={**form, "sms": code, "login_csrf": login_csrf(texting)},
        follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/security"
    assert sign_in(texting, BOB)  # the password flow without a factor is unchanged


def test_the_page_answers_alike_whoever_holds_the_address(texting: TestClient) -> None:
    def seen(email: str) -> tuple[int, str]:
        page = text_me_a_code(texting, email)
        text = re.sub(r'name="login_csrf" value="[^"]*"', "TOKEN", page.text)
        return page.status_code, text.replace(email, "EMAIL")

    assert len({seen(email) for email in EVERYONE}) == 1
    throttled = [seen(email) for email in EVERYONE for _ in range(3)][-1]
    assert throttled[0] == 429
    assert "Too many codes asked for: wait a little, then ask again." in throttled[1]
    assert len({seen(email) for email in EVERYONE}) == 1


def test_a_forged_text_me_a_code_form_texts_nothing_and_records_nothing(
    texting: TestClient, ledger: Ledger
) -> None:
    before = ledger.event_count()
    token = login_csrf(texting)
    for data, headers in (
        ({"email": ADA}, {}),
        ({"email": ADA, "login_csrf": "x" * 43}, {}),
        ({"email": ADA, "login_csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
    ):
        forged = texting.post("/signin/sms-code", data=data, headers=headers)
        assert (forged.status_code, error_code(forged)) == (403, "csrf_failed")
    assert ledger.event_count() == before
    assert len(texts(ledger)) == 1
