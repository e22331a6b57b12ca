"""Sign in with SSO over HTTP: the Authorization Code flow with PKCE against a real provider.

The provider is oidc-provider-mock on 127.0.0.1 (nobody on this project wrote it); the test
plays the browser with FastAPI's test client, and the user at the provider with plain HTTP.
Tokens it issues carry the real time, so the app runs on the wall clock here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Ledger
from tests.identity_provider import real_provider
from tests.web.conftest import MovableClock, login_csrf

ADA = "ada@acme.test"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@pytest.fixture
def issuer(ledger: Ledger, client: TestClient) -> Iterator[str]:
    """acme signs in through a real OpenID provider; its IdP asserts MFA for ada."""
    with real_provider() as url:
        configure(ledger.at(datetime.now(UTC)), url, "idp")
        user_at_provider(url, ADA, amr=["pwd", "mfa"])
        yield url


def configure(ledger: Ledger, issuer: str, mfa: str) -> None:
    """A confidential client: the code is exchanged with the client secret and PKCE."""
    ledger.ok(
        *("org", "sso", "acme", "--idp", "mock", "--issuer", issuer, "--client-id"),
        *("flero-ledger", "--client-secret-stdin", "--mfa", mfa),
        stdin="client-secret\n",
    )


def user_at_provider(issuer: str, email: str, **claims: object) -> None:
    body = {"email": email, "email_verified": True, **claims}
    httpx.put(f"{issuer}/users/{email}", json=body).raise_for_status()


def authorize_at_provider(location: str, email: str) -> str:
    """The user signs in at the provider; returns where it sends the browser back to."""
    answer = httpx.post(location, data={"sub": email})
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    return f"{back.path}?{back.query}"


def start(client: TestClient, issuer: str, org: str = "acme") -> str:
    answer = client.get(f"/signin/sso?org={org}", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(issuer)
    return str(location)


def test_sign_in_with_sso_lands_on_the_security_tab(client: TestClient, issuer: str) -> None:
    location = start(client, issuer)
    asked = parse_qs(urlsplit(location).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["state"][0]) >= 32 and len(asked["nonce"][0]) >= 32
    assert "code_verifier" not in asked

    back = client.get(authorize_at_provider(location, ADA), follow_redirects=False)

    assert back.status_code == 303
    assert back.headers["location"] == "/security"
    page = client.get("/security")
    assert page.status_code == 200
    assert "SSO (mock)" in page.text


def test_a_callback_with_another_state_is_refused_and_signs_nobody_in(
    client: TestClient, issuer: str
) -> None:
    location = start(client, issuer)
    callback = authorize_at_provider(location, ADA)
    forged = callback.replace("state=", "state=x")

    answer = client.get(forged, follow_redirects=False)

    assert answer.status_code == 400
    assert "flero_session" not in answer.headers.get("set-cookie", "")
    # The flow is over: even the genuine callback is refused now.
    assert client.get(callback, follow_redirects=False).status_code == 400


def test_a_callback_in_another_browser_is_refused(client: TestClient, issuer: str) -> None:
    """Login CSRF: an attacker's code, planted in the victim's browser, signs her in nowhere."""
    callback = authorize_at_provider(start(client, issuer), ADA)
    client.cookies.clear()  # the victim's browser never started this flow

    answer = client.get(callback, follow_redirects=False)

    assert answer.status_code == 400
    assert client.get("/security", follow_redirects=False).status_code == 303  # to /signin


def test_an_unknown_organisation_and_one_without_sso_answer_alike(
    client: TestClient, issuer: str, ledger: Ledger
) -> None:
    ledger.ok("org", "create", "globex")

    unknown = client.get("/signin/sso?org=nobody", follow_redirects=False)
    without = client.get("/signin/sso?org=globex", follow_redirects=False)

    assert unknown.status_code == without.status_code == 404
    assert "not set up" in unknown.text
    assert "not set up" in without.text


def test_an_idp_that_did_not_do_mfa_is_refused_and_recorded(
    client: TestClient, issuer: str, ledger: Ledger
) -> None:
    user_at_provider(issuer, ADA, amr=["pwd"])

    answer = client.get(authorize_at_provider(start(client, issuer), ADA), follow_redirects=False)

    assert answer.status_code == 401
    history = ledger.at(datetime.now(UTC)).ok("history", ADA)
    assert (history[0]["method"], history[0]["reason"]) == ("sso", "idp_mfa_required")


def test_a_flero_factor_is_asked_for_after_the_idp_when_the_org_wants_both(
    client: TestClient, issuer: str, ledger: Ledger
) -> None:
    configure(ledger.at(datetime.now(UTC)), issuer, "both")
    ledger.at(datetime.now(UTC) - timedelta(minutes=2))  # a TOTP step of its own
    secret = ledger.ok("mfa", "totp", "enrol", ADA)["secret"]
    ledger.ok("mfa", "totp", "confirm", ADA, pyotp.TOTP(secret).at(ledger.now))

    asked = client.get(authorize_at_provider(start(client, issuer), ADA), follow_redirects=False)
    assert asked.status_code == 401
    assert 'action="/signin/sso/factor"' in asked.text
    token = asked.text.split('name="login_csrf" value="')[1].split('"')[0]

    wrong = client.post(
        "/signin/sso/factor", data={"totp": "000000", "login_csrf": token}, follow_redirects=False
    )
    assert wrong.status_code == 401
    token = wrong.text.split('name="login_csrf" value="')[1].split('"')[0]
    code = pyotp.TOTP(secret).at(datetime.now(UTC))
    right = client.post(
        "/signin/sso/factor", data={"totp": code, "login_csrf": token}, follow_redirects=False
    )

    assert right.status_code == 303
    assert client.get("/security").status_code == 200


def test_the_factor_step_needs_the_login_csrf_token_and_a_pending_flow(
    client: TestClient, issuer: str
) -> None:
    token = login_csrf(client)
    no_flow = client.post("/signin/sso/factor", data={"totp": "123456", "login_csrf": token})
    assert no_flow.status_code == 400
    forged = client.post("/signin/sso/factor", data={"totp": "123456"})
    assert forged.status_code == 403


def test_sso_by_email_goes_to_the_organisation_that_claimed_the_domain(
    client: TestClient, issuer: str, ledger: Ledger
) -> None:
    ledger.ok(
        *("org", "sso", "acme", "--idp", "mock", "--issuer", issuer, "--client-id"),
        *("flero-ledger", "--client-secret-stdin", "--mfa", "idp", "--domain", "acme.test"),
        stdin="client-secret\n",
    )

    by_email = client.get(f"/signin/sso?email={ADA}", follow_redirects=False)
    assert by_email.status_code == 303
    assert by_email.headers["location"].startswith(issuer)
    # Whether an address has an account does not change the answer; only the domain does.
    nobody = client.get("/signin/sso?email=nobody@acme.test", follow_redirects=False)
    assert nobody.status_code == 303
    elsewhere = client.get("/signin/sso?email=ada@globex.test", follow_redirects=False)
    malformed = client.get("/signin/sso?email=not-an-address", follow_redirects=False)
    unknown_org = client.get("/signin/sso?org=nobody", follow_redirects=False)
    assert elsewhere.status_code == malformed.status_code == unknown_org.status_code == 404
