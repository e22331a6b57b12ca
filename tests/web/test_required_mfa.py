"""Required MFA over HTTP: a restricted session may only enrol and sign out, on the API and the
page alike; the grace period's banner; the compliance report for the organisation's admins."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient

from tests.conftest import Ledger
from tests.web.conftest import MovableClock, error_code, sign_in, signed_in_browser

ADA = "ada@acme.test"


def enrol_totp(client: TestClient, me: dict[str, str], clock: MovableClock) -> None:
    secret = client.post("/api/mfa/totp/enrol", headers=me).json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    confirmed = client.post("/api/mfa/totp/confirm", headers=me, json={"code": code})
    assert confirmed.status_code == 200, confirmed.text


def test_a_restricted_session_may_only_enrol_until_it_has(
    client: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")
    signed_in = client.post(
        "/api/login", json={"email": ADA, "method": "password", "password": "correct horse 42"}
    ).json()
    assert signed_in["restricted"] == "mfa_enrolment_required"
    me = {"Authorization": f"Bearer {signed_in['session_token']}"}
    before = ledger.event_count()

    for path in ("/api/sessions", "/api/history", "/api/audit", "/api/api-keys"):
        refused = client.get(path, headers=me)
        assert (refused.status_code, error_code(refused)) == (403, "mfa_enrolment_required")
    refused = client.post("/api/api-keys", headers=me, json={"name": "ci"})
    assert (refused.status_code, error_code(refused)) == (403, "mfa_enrolment_required")
    assert client.post("/api/sessions/revoke-others", headers=me).status_code == 403
    assert ledger.event_count() == before  # refused before anything was done or recorded

    assert client.get("/api/mfa", headers=me).status_code == 200
    enrol_totp(client, me, clock)

    assert client.get("/api/sessions", headers=me).status_code == 200  # the same session


def test_the_page_shows_a_restricted_session_only_enrolment(
    client: TestClient, ledger: Ledger
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")
    csrf = signed_in_browser(client)
    page = client.get("/security").text
    assert 'id="mfa-restricted"' in page
    assert 'action="/security/totp/enrol"' in page
    for hidden in ('id="sessions"', 'id="history"', 'id="audit"', "revoke-others"):
        assert hidden not in page
    before = ledger.event_count()

    answer = client.post(
        "/security/sessions/revoke-others", data={"csrf": csrf}, follow_redirects=False
    )

    assert (answer.status_code, answer.headers["location"]) == (303, "/security")
    assert ledger.event_count() == before
    enrolment = client.post("/security/totp/enrol", data={"csrf": csrf})
    assert enrolment.status_code == 200 and 'id="totp-enrolment"' in enrolment.text


def test_during_grace_the_page_says_by_when(client: TestClient, ledger: Ledger) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "3")
    signed_in_browser(client)
    page = client.get("/security").text
    assert 'id="mfa-due"' in page and "2026-11-17 09:00 UTC" in page
    assert 'id="sessions"' in page


def test_admins_see_the_compliance_report_and_nobody_else_can_probe_for_it(
    client: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "3")
    ledger.ok("org", "create", "other")
    admin = sign_in(client, "admin@acme.test")
    ada = sign_in(client, ADA)
    enrol_totp(client, ada, clock)

    now = client.get("/api/org/acme/compliance", headers=admin).json()
    assert {row["email"]: row["status"] for row in now} == {
        "admin@acme.test": "grace",
        ADA: "compliant",
        "bob@acme.test": "grace",
    }
    then = client.get("/api/org/acme/compliance?as_of=2026-11-14T09:30:00Z", headers=admin)
    assert {row["email"]: row["status"] for row in then.json()}[ADA] == "grace"
    bad = client.get("/api/org/acme/compliance?as_of=soon", headers=admin)
    assert bad.status_code == 422

    refusals = [
        client.get(f"/api/org/{slug}/compliance", headers=who)
        for slug, who in (("acme", ada), ("other", admin), ("nowhere", admin), ("nowhere", ada))
    ]
    assert {(r.status_code, r.text) for r in refusals} == {(403, refusals[0].text)}
    assert error_code(refusals[0]) == "admin_required"


def test_the_admins_page_lists_the_members(client: TestClient, ledger: Ledger) -> None:
    ledger.ok("org", "require-mfa", "acme", "on")
    signed_in_browser(client, "admin@acme.test")
    assert 'href="/org/acme/compliance"' in client.get("/security").text
    page = client.get("/org/acme/compliance")
    assert page.status_code == 200
    assert ADA in page.text and "grace" in page.text
    client.cookies.clear()
    signed_in_browser(client, ADA)
    assert client.get("/org/acme/compliance").status_code == 403
    assert 'href="/org/acme/compliance"' not in client.get("/security").text
