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
import time
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ledger import totp
from tests.cli.test_sms import code_in, enable_sms
from tests.conftest import Ledger, wait_for
from tests.web.conftest import EMAIL, PASSWORD
from web.screenshot import BackgroundServer

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def test_the_qr_code_on_the_page_scans_to_the_exact_otpauth_uri(
    context: BrowserContext, server: BackgroundServer, tmp_path: Path
) -> None:
    """Decoded by a real decoder (zbar's zbarimg) from what Chromium draws, as a phone's camera
    sees the screen: the whole symbol, finder squares and quiet zone, inside the box."""
    page = signed_in_page(context, server)
    page.locator("#factor-totp").get_by_role("button", name="Enable authenticator app").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    qr.scroll_into_view_if_needed()
    shown = qr.locator("svg").bounding_box()
    box = qr.bounding_box()
    assert shown and box and shown["width"] >= 160, shown  # big enough for a phone's camera
    assert shown["x"] + shown["width"] <= box["x"] + box["width"] + 0.5, (shown, box)
    assert shown["y"] + shown["height"] <= box["y"] + box["height"] + 0.5, (shown, box)
    secret = page.locator("code#totp-secret").inner_text().strip()

    screen = tmp_path / "screen.png"
    page.screenshot(path=str(screen))  # the viewport, with the page around the code
    decoded = zbarimg(screen)

    assert decoded == [totp.provisioning_uri(secret, EMAIL)]
    assert decoded[0].startswith("otpauth://totp/Flero:ada%40acme.test?secret=" + secret)
    assert pyotp.parse_uri(decoded[0]).now() == pyotp.TOTP(secret).now()


def zbarimg(png: Path) -> list[str]:
    """Every QR code zbarimg finds in the picture (exit 4: none)."""
    found = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert found.returncode in (0, 4), found.stderr
    return found.stdout.splitlines()


def test_a_sessions_location_shows_on_tap_on_keyboard_focus_and_on_hover(
    browser: Browser, server: BackgroundServer
) -> None:
    """The help page: "coarse geolocation shown on hover". Touch screens have no hover and a
    keyboard no pointer: the IP is a disclosure, shown on focus and opened by a tap."""
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    try:
        page = signed_in_page(phone, server)
        ip = page.locator("#sessions details.where").first
        place = ip.locator(".place")
        expect(place).to_be_hidden()
        expected = place.text_content()
        assert expected and expected.strip()

        ip.locator("summary").tap()
        expect(place).to_be_visible()
        expect(place).to_have_text(expected)
        page.locator("h1").tap()  # elsewhere: it stays open until tapped again
        expect(place).to_be_visible()
        ip.locator("summary").tap()
        page.locator("h1").tap()
        expect(place).to_be_hidden()
    finally:
        phone.close()

    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = signed_in_page(desk, server)
        ip = page.locator("#sessions details.where").first
        place = ip.locator(".place")
        expect(place).to_be_hidden()
        page.locator("h1").click()
        for _ in range(40):  # Tab, as a keyboard user does, until the IP has the focus
            page.keyboard.press("Tab")
            if ip.locator("summary").evaluate("e => e === document.activeElement"):
                break
        expect(ip.locator("summary")).to_be_focused()
        expect(place).to_be_visible()
        page.keyboard.press("Tab")
        expect(place).to_be_hidden()

        ip.locator("summary").hover()
        expect(place).to_be_visible()
        page.locator("h1").hover()
        expect(place).to_be_hidden()
    finally:
        desk.close()


def test_a_phone_390_wide_never_scrolls_sideways_and_tables_stack(
    browser: Browser, server: BackgroundServer, ledger: Ledger
) -> None:
    ledger.ok("org", "admin", "add", "acme", EMAIL)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    phone.set_default_timeout(10_000)

    def fits(page: Page, where: str) -> None:
        wide, shown = page.evaluate(
            "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        assert wide <= shown, f"{where}: {wide} px wide in {shown}"

    try:
        page = phone.new_page()
        page.goto(f"{server.url}/signin")
        fits(page, "sign-in")
        sign_in(page, server)
        expect(page).to_have_url(f"{server.url}/security")
        fits(page, "security")

        row = page.locator("#sessions tbody tr").first
        cells = row.locator("td").all()
        boxes = [cell.bounding_box() for cell in cells if cell.inner_text().strip()]
        assert len(boxes) >= 4
        tops = [box["y"] for box in boxes if box]
        assert tops == sorted(tops) and len(set(tops)) == len(tops), tops  # one under another
        # Each cell says its column (the header row is out of sight), and is still a cell.
        label = row.locator("td").first.evaluate("td => getComputedStyle(td, '::before').content")
        assert label == '"Device / browser: "', label
        expect(row.get_by_role("cell").first).to_have_accessible_name(
            re.compile(r"^Device / browser: HeadlessChrome")
        )

        page.locator("#factor-totp").get_by_role("button", name="Enable authenticator app").tap()
        expect(page.locator("#totp-enrolment")).to_be_visible()
        fits(page, "enrolling")
        secret = page.locator("code#totp-secret").inner_text().strip()
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").tap()
        expect(page.locator("#new-recovery-codes")).to_be_visible()
        fits(page, "recovery codes")
        page.locator("#factor-totp").get_by_role("button", name="Disable").tap()
        expect(page.locator("#disable-confirm")).to_be_visible()
        fits(page, "disable?")

        page.goto(f"{server.url}/org/acme/compliance")
        fits(page, "compliance")
    finally:
        phone.close()


def test_disable_asks_first_and_works_without_javascript(
    browser: Browser, server: BackgroundServer
) -> None:
    plain = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    plain.set_default_timeout(10_000)
    try:
        page = signed_in_page(plain, server)
        page.get_by_role("button", name="Enable authenticator app").click()
        secret = page.locator("code#totp-secret").inner_text().strip()
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("#new-recovery-codes")).to_be_visible()
        page.goto(f"{server.url}/security")

        factor = page.locator("#factor-totp")
        factor.get_by_role("button", name="Disable the authenticator app").click()
        question = page.locator("#disable-confirm")
        expect(question).to_contain_text("Disable the authenticator app?")
        question.get_by_role("link", name="No, keep it").click()
        expect(factor).to_contain_text("Authenticator app: enabled")

        factor.get_by_role("button", name="Disable the authenticator app").click()
        question.get_by_role("button", name="Yes, disable the authenticator app").click()
        reauth = page.locator("#reauth")  # this session has not proven a factor lately
        expect(reauth).to_contain_text("to disable the authenticator app")
        # The next time step's code: the one used to enrol cannot be used again.
        reauth.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
        reauth.get_by_role("button", name="Confirm").click()

        expect(page.get_by_role("status")).to_have_text("Authenticator app disabled")
        expect(factor).not_to_contain_text("enabled")
    finally:
        plain.close()
