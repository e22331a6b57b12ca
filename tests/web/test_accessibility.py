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
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import Ledger
from tests.web.conftest import EMAIL
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
    opened.set_default_timeout(10_000)
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
    enrolment.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    enrolment.get_by_role("button", name="Confirm").click()
    expect(page.locator("#new-recovery-codes")).to_be_visible()
    found["enrolled, recovery codes shown"] = violations(page)

    page.goto(f"{server.url}/security")
    found["enrolled"] = violations(page)

    page.locator("#factor-totp").get_by_role("button", name="Disable").click()
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

    assert not blocking(found), "\n".join(blocking(found)) + f"\n(all: {found})"
