"""The Security tab's forms over HTTP (no browser): a mistyped enrolment code keeps the key and
QR code, "Disable" asks first, and is not offered where the organisation's policy refuses it."""

from __future__ import annotations

import logging
import re

import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Ledger
from tests.web.conftest import MovableClock, signed_in_browser

ADA = "ada@acme.test"
SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
QR = re.compile(r'<div class="qr"[^>]*>(<svg.*?</svg>)</div>', re.S)


def wrong_code(secret: str, clock: MovableClock) -> str:
    right = pyotp.TOTP(secret).at(clock.now())
    return "000000" if right != "000000" else "111111"


def enrol_with_the_page(client: TestClient, csrf: str, clock: MovableClock) -> str:
    page = client.post("/security/totp/enrol", data={"csrf": csrf}).text
    secret = SECRET.search(page)
    assert secret, page
    code = pyotp.TOTP(secret[1]).at(clock.now())
    confirmed = client.post("/security/totp/confirm", data={"csrf": csrf, "code": code})
    assert confirmed.status_code == 200 and "Authenticator app enabled" in confirmed.text
    return secret[1]


def test_a_mistyped_code_shows_the_same_key_and_qr_code_with_the_reason_beside_the_field(
    client: TestClient, clock: MovableClock, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = signed_in_browser(client)
    started = client.post("/security/totp/enrol", data={"csrf": csrf}).text
    secret = SECRET.search(started)
    qr = QR.search(started)
    assert secret and qr

    for typo in (wrong_code(secret[1], clock), "12345", "abcdef"):
        again = client.post("/security/totp/confirm", data={"csrf": csrf, "code": typo})

        assert again.status_code == 400
        assert SECRET.search(again.text)[1] == secret[1]  # type: ignore[index]
        assert QR.search(again.text)[1] == qr[1]  # type: ignore[index]
        field = re.search(r'<input id="totp-code"[^>]*>', again.text)
        assert field and 'aria-invalid="true"' in field[0]
        assert 'aria-describedby="totp-code-problem"' in field[0]
        assert 'id="totp-code-problem" role="alert"' in again.text
        assert typo not in again.text

    # Leaving and starting again shows the same key too: the app that scanned it still works.
    restarted = client.post("/security/totp/enrol", data={"csrf": csrf}).text
    assert SECRET.search(restarted)[1] == secret[1]  # type: ignore[index]
    code = pyotp.TOTP(secret[1]).at(clock.now())
    done = client.post("/security/totp/confirm", data={"csrf": csrf, "code": code})
    assert done.status_code == 200 and "Authenticator app enabled" in done.text
    assert ledger.ok("mfa", "status", ADA)["totp"]["enabled"]
    assert secret[1] not in caplog.text  # never logged


def test_disable_asks_first_and_nothing_changes_until_she_says_yes(
    client: TestClient, clock: MovableClock, ledger: Ledger
) -> None:
    csrf = signed_in_browser(client)
    secret = enrol_with_the_page(client, csrf, clock)
    before = ledger.event_count()

    asked = client.post("/security/disable", data={"csrf": csrf, "factor": "totp"})

    assert asked.status_code == 200
    assert 'id="disable-confirm"' in asked.text
    assert "Disable the authenticator app?" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert ledger.event_count() == before
    assert ledger.ok("mfa", "status", ADA)["totp"]["enabled"]

    # Yes: this session has not proven a factor lately, so it is asked to first.
    clock.advance(minutes=1)
    yes = {"csrf": csrf, "factor": "totp", "confirmed": "yes"}
    reauth = client.post("/security/disable", data=yes)
    assert reauth.status_code == 403 and 'id="reauth"' in reauth.text
    assert 'name="then" value="disable:totp"' in reauth.text
    assert ledger.ok("mfa", "status", ADA)["totp"]["enabled"]
    code = pyotp.TOTP(secret).at(clock.now())
    proven = {"csrf": csrf, "then": "disable:totp", "code": code}
    disabled = client.post("/security/confirm", data=proven, follow_redirects=False)
    assert (disabled.status_code, disabled.headers["location"]) == (
        303,
        "/security?done=totp_disabled",
    )
    assert not ledger.ok("mfa", "status", ADA)["totp"]["enabled"]

    unknown = client.post("/security/disable", data={"csrf": csrf, "factor": "password"})
    assert unknown.status_code == 400


def test_a_factor_the_policy_keeps_offers_no_disable_and_says_why(
    client: TestClient, clock: MovableClock, ledger: Ledger
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on")
    csrf = signed_in_browser(client)
    enrol_with_the_page(client, csrf, clock)

    page = client.get("/security").text

    totp_factor = page.split('id="factor-totp"')[1].split('class="factor"')[0]
    assert 'action="/security/disable"' not in totp_factor
    assert "Cannot be disabled." in totp_factor
    assert "Your organisation requires MFA" in totp_factor

    # And asked anyway (a form kept from before), the ledger refuses.
    clock.advance(minutes=1)
    yes = {"csrf": csrf, "factor": "totp", "confirmed": "yes"}
    refused = client.post("/security/disable", data=yes)
    assert refused.status_code in (400, 403)
    assert ledger.ok("mfa", "status", ADA)["totp"]["enabled"]


def test_without_a_requirement_the_last_factor_may_be_disabled(
    client: TestClient, clock: MovableClock
) -> None:
    csrf = signed_in_browser(client)
    enrol_with_the_page(client, csrf, clock)
    page = client.get("/security").text
    totp_factor = page.split('id="factor-totp"')[1].split('class="factor"')[0]
    assert 'action="/security/disable"' in totp_factor
    assert "Cannot be disabled" not in page
