"""The pages against axe-core, and the Security tab used with the keyboard alone.

axe-core is the npm package that package.json pins and `scripts/bootstrap test` installs into
node_modules/; each test injects it into the page in headless Chromium and runs it there. Only
serious and critical violations fail a test; every violation found is in the failure message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.conftest import Ledger
from tests.web.conftest import EMAIL, PASSWORD
from tests.web.test_browser import sign_in, signed_in_page
from web.screenshot import BackgroundServer

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture
def axe_context(browser: Browser) -> Iterator[BrowserContext]:
    """A context where the page's Content-Security-Policy (script-src 'self') lets the test
    inject axe; the app's own pages are the same."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `scripts/bootstrap test` installs it (npm ci)")
    opened = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    opened.set_default_timeout(30_000)  # axe and a sign-in on a busy machine
    yield opened
    opened.close()


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe finds on the page as it is now (WCAG 2.x A and AA, and best practices)."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    return found


def wrong_code(secret: str) -> str:
    right = pyotp.TOTP(secret).now()
    return "000000" if right != "000000" else "111111"


def blocking(found: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [
        f"{state}: {v['impact']} {v['id']} ({v['help']}) at {v['targets']}"
        for state, seen in found.items()
        for v in seen
        if v["impact"] in BLOCKING
    ]


def test_the_sign_in_page_and_each_state_of_the_security_tab_pass_axe(
    axe_context: BrowserContext, server: BackgroundServer
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    page = axe_context.new_page()
    page.goto(f"{server.url}/signin")
    found["sign-in"] = violations(page)

    page = signed_in_page(axe_context, server)
    found["no factor"] = violations(page)

    page.locator("#factor-totp").get_by_role("button", name="Enable authenticator app").click()
    expect(page.locator("#totp-enrolment")).to_be_visible()
    found["enrolling"] = violations(page)

    secret = page.locator("code#totp-secret").inner_text().strip()
    enrolment = page.locator("#totp-enrolment")
    enrolment.get_by_label("Code from the app").fill(wrong_code(secret))
    enrolment.get_by_role("button", name="Confirm").click()
    expect(page.locator("#totp-code-problem")).to_be_visible()
    found["enrolling, code mistyped"] = violations(page)

    enrolment.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    enrolment.get_by_role("button", name="Confirm").click()
    expect(page.locator("#new-recovery-codes")).to_be_visible()
    found["enrolled, recovery codes shown"] = violations(page)

    page.goto(f"{server.url}/security")
    found["enrolled"] = violations(page)

    page.locator("#factor-totp").get_by_role("button", name="Disable").click()
    expect(page.locator("#disable-confirm")).to_be_visible()
    found["disable: the question"] = violations(page)

    page.get_by_role("button", name="Yes, disable the authenticator app").click()
    expect(page.locator("#reauth")).to_be_visible()
    found["reauthentication"] = violations(page)

    assert not blocking(found), "\n".join(blocking(found)) + f"\n(all: {found})"


def test_a_restricted_session_and_the_compliance_page_pass_axe(
    axe_context: BrowserContext, server: BackgroundServer, ledger: Ledger
) -> None:
    ledger.ok("org", "admin", "add", "acme", EMAIL)
    found: dict[str, list[dict[str, Any]]] = {}
    page = signed_in_page(axe_context, server)
    page.goto(f"{server.url}/org/acme/compliance")
    expect(page.get_by_role("heading", name=re.compile("MFA compliance"))).to_be_visible()
    found["compliance"] = violations(page)

    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")  # at T0, long past
    page = axe_context.new_page()
    sign_in(page, server)
    expect(page.locator("#mfa-restricted")).to_be_visible()
    found["restricted"] = violations(page)

    page.get_by_role("button", name="Enable authenticator app").click()
    secret = page.locator("code#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.goto(f"{server.url}/security")
    expect(page.locator("#totp-kept")).to_be_visible()  # the policy keeps the last factor
    found["a factor the policy keeps"] = violations(page)
    page.set_viewport_size({"width": 390, "height": 844})
    found["a factor the policy keeps, 390 px wide"] = violations(page)

    assert not blocking(found), "\n".join(blocking(found)) + f"\n(all: {found})"


def tab_to(page: Page, target: Locator, limit: int = 60) -> None:
    """Press Tab until `target` has the focus, as a keyboard user does."""
    for _ in range(limit):
        if target.evaluate("e => e === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


def test_with_the_keyboard_alone_she_enrols_an_app_and_signs_out_another_session(
    browser: Browser, context: BrowserContext, server: BackgroundServer
) -> None:
    other = browser.new_context()
    try:
        signed_in_page(other, server)  # her other session, elsewhere
        page = context.new_page()
        page.goto(f"{server.url}/signin")
        tab_to(page, page.get_by_label("E-mail", exact=True))
        page.keyboard.type(EMAIL)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{server.url}/security")

        tab_to(page, page.get_by_role("button", name="Enable authenticator app"))
        page.keyboard.press("Enter")
        expect(page.locator("#totp-enrolment-title")).to_be_focused()  # where she is now
        secret = page.locator("code#totp-secret").inner_text().strip()  # read off the screen
        tab_to(page, page.get_by_label("Code from the app"))
        page.keyboard.type(wrong_code(secret))
        page.keyboard.press("Enter")
        field = page.get_by_label("Code from the app")
        expect(field).to_be_focused()  # back on the field, the reason beside it
        expect(field).to_have_accessible_description(re.compile("not valid"))
        page.keyboard.press("Control+A")
        page.keyboard.type(pyotp.TOTP(secret).now())
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text("Authenticator app enabled")

        sign_out = page.locator("#sessions tbody tr").get_by_role(
            "button", name=re.compile("^Sign out the session")
        )
        expect(sign_out).to_have_count(1)
        tab_to(page, sign_out)
        page.keyboard.press("Space")
        expect(page.get_by_role("status")).to_have_text("Session signed out")
        expect(page.locator("#sessions tbody tr")).to_have_count(1)
    finally:
        other.close()
