"""The Security tab in a real browser: headless Chromium (Playwright) against the real server.

Accounts are set up with the command line at T0; everything after that is done the way a user
does it, through the pages, on the server's own wall clock. Each test runs on SQLite and on
PostgreSQL (through the `ledger` fixture).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ledger.store_location import StoreLocation
from tests.cli.test_sms import code_in, enable_sms
from tests.conftest import Ledger, wait_for
from web.screenshot import BackgroundServer

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
EMAIL = "ada@acme.test"
PASSWORD = "correct horse 42"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def server(ledger: Ledger) -> Iterator[BackgroundServer]:
    """The web app over the test's store, with ada@acme.test holding a password."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", EMAIL, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    with BackgroundServer(StoreLocation.parse(ledger.url)) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    opened.set_default_timeout(10_000)
    yield opened
    opened.close()


def sign_in(page: Page, server: BackgroundServer, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("E-mail", exact=True).fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def signed_in_page(context: BrowserContext, server: BackgroundServer) -> Page:
    page = context.new_page()
    sign_in(page, server)
    expect(page).to_have_url(f"{server.url}/security")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    return page


def test_enrol_an_authenticator_app(context: BrowserContext, server: BackgroundServer) -> None:
    page = signed_in_page(context, server)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    totp_factor = page.locator("#factor-totp")
    expect(totp_factor).not_to_contain_text("Authenticator app: enabled")

    totp_factor.get_by_role("button", name="Enable authenticator app").click()
    enrolment = page.locator("#totp-enrolment")
    expect(enrolment).to_be_visible()
    expect(enrolment.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("code#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret

    enrolment.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    enrolment.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("status")).to_have_text("Authenticator app enabled")
    shown = page.locator("#new-recovery-codes")
    expect(shown).to_be_visible()
    codes = [line.strip() for line in shown.locator("pre#codes").inner_text().splitlines()]
    codes = [code for code in codes if code]
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    expect(page.locator("#totp-enrolment")).to_have_count(0)
    with page.expect_download() as saving:
        shown.get_by_role("button", name="Download").click()
    saved = Path(saving.value.path()).read_text()
    assert saved.split() == codes
    assert saving.value.suggested_filename == "flero-recovery-codes.txt"
    assert console_errors == []

    # The codes are the answer to the POST itself (shown once), so reloading means opening the
    # Security tab again: page.reload() here would re-submit the confirmation form.
    page.goto(f"{server.url}/security")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#new-recovery-codes")).to_have_count(0)  # shown once only
    expect(totp_factor).to_contain_text("Authenticator app: enabled")
    expect(totp_factor.get_by_role("button", name="Disable")).to_be_visible()
    expect(page.locator("#recovery-codes")).to_contain_text("10 of 10 left")


def test_past_the_deadline_the_page_offers_only_enrolment_until_she_enrols(
    context: BrowserContext, server: BackgroundServer, ledger: Ledger
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")  # at T0, long past
    page = signed_in_page(context, server)
    expect(page.locator("#mfa-restricted")).to_be_visible()
    for hidden in ("#sessions", "#history", "#audit", "#recovery-codes"):
        expect(page.locator(hidden)).to_have_count(0)

    page.locator("#factor-totp").get_by_role("button", name="Enable authenticator app").click()
    secret = page.locator("code#totp-secret").inner_text().strip()
    enrolment = page.locator("#totp-enrolment")
    enrolment.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    enrolment.get_by_role("button", name="Confirm").click()

    expect(page.locator("#new-recovery-codes")).to_be_visible()
    expect(page.locator("#mfa-restricted")).to_have_count(0)
    page.goto(f"{server.url}/security")
    expect(page.locator("#sessions")).to_be_visible()


def test_sign_out_another_session(browser: Browser, server: BackgroundServer) -> None:
    first = browser.new_context(viewport={"width": 1280, "height": 900})
    second = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other_page = signed_in_page(second, server)
        page = signed_in_page(first, server)

        rows = page.locator("#sessions tbody tr[data-session]")
        expect(rows).to_have_count(2)
        mine = rows.filter(has=page.locator(".badge", has_text="this session"))
        expect(mine).to_have_count(1)
        expect(mine.get_by_role("button")).to_have_count(0)  # no "Sign out" on your own
        other = rows.filter(has_not=page.locator(".badge", has_text="this session"))
        expect(other).to_have_count(1)
        other_id = other.get_attribute("data-session")
        assert other_id

        button = page.locator(f'tr[data-session="{other_id}"]').get_by_role(
            "button", name=re.compile(r"^Sign out")
        )
        expect(button).to_have_text("Sign out")
        button.click()

        expect(page).to_have_url(re.compile(r"/security\?done="))
        expect(page.get_by_role("status")).to_have_text("Session signed out")
        expect(page.locator(f'tr[data-session="{other_id}"]')).to_have_count(0)
        expect(rows).to_have_count(1)

        other_page.reload()
        expect(other_page).to_have_url(f"{server.url}/signin")
        expect(other_page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
        assert not [c for c in second.cookies() if c["name"] == "flero_session"]
    finally:
        first.close()
        second.close()


def test_failed_login_shows_in_history(context: BrowserContext, server: BackgroundServer) -> None:
    page = context.new_page()
    sign_in(page, server, password="not my password")
    expect(page.get_by_role("alert")).to_have_text("That did not work: check and try again.")
    expect(page.get_by_label("E-mail", exact=True)).to_have_value(EMAIL)
    expect(page.get_by_label("Password")).to_have_value("")

    sign_in(page, server)
    expect(page).to_have_url(f"{server.url}/security")
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(2)
    failed = page.locator("#history tbody tr.failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("failed")
    expect(failed).to_contain_text("invalid password")
    expect(failed).to_contain_text("password")
    expect(page.locator("#history tbody tr.success")).to_have_count(1)


def test_an_sms_only_user_signs_in_with_a_texted_code(
    context: BrowserContext, server: BackgroundServer, ledger: Ledger
) -> None:
    """She enrolled her phone and nothing else; on the page she asks for a code, reads it in
    her texts (the outbox, through the command line) and signs in with it."""
    enable_sms(ledger, EMAIL)
    page = context.new_page()
    page.goto(f"{server.url}/signin")
    page.get_by_label("E-mail", exact=True).fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)

    page.get_by_role("button", name="Text me a code").click()

    expect(page.get_by_role("status")).to_contain_text("we have texted it a code")
    expect(page.get_by_label("E-mail", exact=True)).to_have_value(EMAIL)
    expect(page.get_by_label("Password")).to_have_value("")  # never written into a page
    wait_for(lambda: len(ledger.ok("sms", "outbox")) == 2)  # delivered after the answer
    code = code_in(ledger.ok("sms", "outbox")[0]["body"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Code we texted you").fill(code)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page).to_have_url(f"{server.url}/security")
    expect(page.locator("#factor-sms")).to_contain_text("enabled")
    expect(page.locator("#history tbody tr.success")).to_contain_text("sms")


def test_screenshot_command(tmp_path: Path) -> None:
    out = tmp_path / "settings__security-mfa.png"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_DATA_HOME": str(tmp_path / "data")}
    for name in ("FLERO_LEDGER_DB", "FLERO_LEDGER_NOW", "FLERO_LEDGER_MASTER_KEY"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "cli.py", "screenshot", "--out", str(out), "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        umask=0o022,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.is_file()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # whatever the umask
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    assert len(data) > 20 * 1024, len(data)
    assert int.from_bytes(data[16:20], "big") == 1280


def test_sign_in_with_sso_through_a_real_openid_provider(
    context: BrowserContext, server: BackgroundServer, ledger: Ledger
) -> None:
    from datetime import UTC, datetime

    import httpx

    from tests.identity_provider import real_provider

    with real_provider() as issuer:
        ledger.at(datetime.now(UTC)).ok(
            *("org", "sso", "acme", "--idp", "mock", "--issuer", issuer, "--client-id"),
            *("flero-ledger", "--client-secret-stdin", "--mfa", "idp", "--domain", "acme.test"),
            stdin="client-secret\n",
        )
        claims = {"email": EMAIL, "email_verified": True, "amr": ["pwd", "mfa"]}
        httpx.put(f"{issuer}/users/{EMAIL}", json=claims).raise_for_status()
        page = context.new_page()

        page.goto(f"{server.url}/signin")
        page.get_by_label("Work e-mail").fill(EMAIL)
        page.get_by_role("button", name="Sign in with SSO").click()
        expect(page).to_have_url(re.compile(re.escape(issuer) + "/oauth2/authorize"))
        page.get_by_placeholder("sub").fill(EMAIL)
        page.get_by_role("button", name="Authorize").click()

        expect(page).to_have_url(f"{server.url}/security")
        latest = page.locator("#history tbody tr").first
        expect(latest).to_contain_text("SSO (mock)")
        expect(latest).to_contain_text("success")
