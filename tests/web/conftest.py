"""The web tests' shared set-up: accounts made with the command line, a test client over the
app on a clock the tests move (so that "ten minutes later" is real to the ledger), and for the
browser tests the real server on its own wall clock with headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from ledger.store_location import StoreLocation
from tests.conftest import T0, Ledger
from web.app import create_app
from web.screenshot import BackgroundServer

PASSWORD = "correct horse 42"
EMAIL = "ada@acme.test"  # the browser tests' user
CHROMIUM = "/usr/bin/chromium"


class MovableClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

    def advance(self, **delta: float) -> None:
        self.instant += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(T0 + timedelta(hours=1))


@pytest.fixture
def client(ledger: Ledger, store_url: str, clock: MovableClock) -> Iterator[TestClient]:
    ledger.ok("org", "create", "acme")
    ledger.ok(
        "user", "create", "admin@acme.test", "--org", "acme", "--password-stdin", stdin=PASSWORD
    )
    ledger.ok("org", "admin", "add", "acme", "admin@acme.test")
    for email in ("ada@acme.test", "bob@acme.test"):
        ledger.ok("user", "create", email, "--org", "acme", "--password-stdin", stdin=PASSWORD)
    with TestClient(create_app(StoreLocation.parse(store_url), clock)) as test_client:
        yield test_client


def sign_in(client: TestClient, email: str = "ada@acme.test", **factor: str) -> dict[str, str]:
    """A bearer header for a fresh session."""
    body = {"email": email, "method": "password", "password": PASSWORD, **factor}
    answer = client.post("/api/login", json=body)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['session_token']}"}


def error_code(answer: Any) -> str:
    return str(answer.json()["error"]["code"])


def login_csrf(client: TestClient) -> str:
    """Open the sign-in form, as a browser does: the client keeps its login CSRF cookie."""
    return client.get("/signin").text.split('name="login_csrf" value="')[1].split('"')[0]


def signed_in_browser(client: TestClient, email: str = "ada@acme.test") -> str:
    """Sign in through the form; the client keeps the cookie. Returns the page's CSRF token."""
    form = {"email": email, "password": PASSWORD, "login_csrf": login_csrf(client)}
    answer = client.post("/signin", data=form, follow_redirects=False)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    page = client.get("/security").text
    return page.split('name="csrf" value="')[1].split('"')[0]


# ---- the browser tests: the real server, headless Chromium -----------------------------------


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
