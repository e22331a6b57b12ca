"""The HTTP surface trusts nothing it has not proven: one test per hardening, on both stores.

The API opens to a bearer token only; sign-in forms need their pre-session token; bodies are
bounded; bad input is answered without echoing it; no address can be probed; X-Forwarded-For
counts only from a trusted proxy; a throttled sign-in says when to come back.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.store_location import StoreLocation
from tests.conftest import Ledger
from tests.web.conftest import (
    PASSWORD,
    MovableClock,
    error_code,
    login_csrf,
    sign_in,
    signed_in_browser,
)
from web.app import create_app
from web.ledger_access import SESSION_COOKIE, parse_forwarded_allow_ips

SECRET = "Tr0ub4dor&3-never-echoed"


def history(client: TestClient, email: str = "ada@acme.test") -> list[dict[str, Any]]:
    """The account's login history, read through a fresh session (which is its newest row)."""
    rows: list[dict[str, Any]] = client.get("/api/history", headers=sign_in(client, email)).json()
    return rows[1:]


# ---- 1. the API: bearer tokens only ---------------------------------------------------------


def test_the_pages_cookie_never_opens_the_api(client: TestClient) -> None:
    other = sign_in(client)
    signed_in_browser(client)
    assert client.cookies.get(SESSION_COOKIE)

    for answer in (
        client.post("/api/sessions/revoke-others"),
        client.post("/api/mfa/totp/enrol"),
        client.get("/api/mfa"),
    ):
        assert answer.status_code == 401
        assert error_code(answer) == "not_signed_in"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/mfa", headers=other).json()["totp"]["enabled"] is False
    assert len(client.get("/api/sessions", headers=other).json()) == 2  # nothing was revoked
    assert client.get("/security", follow_redirects=False).status_code == 200  # the page: yes


# ---- 2. POST /api/login: password and API key only ------------------------------------------


def test_api_sign_in_takes_a_password_or_an_api_key_and_nothing_else(client: TestClient) -> None:
    for body in (
        {"email": "ada@acme.test", "method": "sso"},
        {"email": "ada@acme.test", "method": "sso", "idp_mfa": True},
        {"email": "ada@acme.test", "method": "password", "password": PASSWORD, "idp_mfa": True},
    ):
        refused = client.post("/api/login", json=body)
        assert refused.status_code == 422, body
        assert error_code(refused) == "invalid_input"

    assert history(client) == []  # no attempt was recorded
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SignInRequest"]
    assert schema["properties"]["method"]["enum"] == ["password", "api_key"]
    assert "idp_mfa" not in schema["properties"]


# ---- 3. login CSRF ------------------------------------------------------------------------


def test_a_forged_sign_in_form_is_refused_and_records_nothing(client: TestClient) -> None:
    form = {"email": "ada@acme.test", "password": PASSWORD}
    opened = client.get("/signin")
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/signin" in cookie
    token = login_csrf(client)

    forgeries: list[tuple[dict[str, str], dict[str, str]]] = [
        (form, {}),  # no token in the form
        ({**form, "login_csrf": "x" * 43}, {}),  # a token of the attacker's
        ({**form, "login_csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
        ({**form, "login_csrf": token}, {"Sec-Fetch-Site": "same-site"}),  # a sibling domain
    ]
    for data, headers in forgeries:
        forged = client.post("/signin", data=data, headers=headers, follow_redirects=False)
        assert forged.status_code == 403, data
        assert error_code(forged) == "csrf_failed"
        assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    client.cookies.clear()  # a browser that never opened the form: the form's token alone
    forged = client.post("/signin", data={**form, "login_csrf": token}, follow_redirects=False)
    assert forged.status_code == 403

    assert history(client) == []  # none of them was even an attempt
    signed_in_browser(client)  # the real form, from the real page, still works


# ---- 4. request bodies: at most 64 KiB ------------------------------------------------------


def test_a_body_over_64_kib_is_refused_before_any_handler_runs(
    client: TestClient, ledger: Ledger
) -> None:
    me = sign_in(client)
    oversized = ('{"phone": "+14155550123", "pad": "' + "x" * 64 * 1024 + '"}').encode()
    chunks = (oversized[start : start + 4096] for start in range(0, len(oversized), 4096))

    declared = client.post("/api/mfa/sms/enrol", headers=me, content=oversized)
    chunked = client.post("/api/mfa/sms/enrol", headers=me, content=chunks)
    assert "content-length" not in chunked.request.headers
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    for answer in (declared, chunked):
        assert answer.status_code == 413
        assert error_code(answer) == "payload_too_large"
        assert answer.headers["x-frame-options"] == "DENY"

    just_under = client.post("/api/mfa/sms/enrol", headers=me, json={"phone": "1" * 60_000})
    assert just_under.status_code == 422  # a body of the right size reaches validation
    assert ledger.ok("sms", "outbox") == []  # no text was sent


# ---- 5. a 422 never echoes what was submitted -----------------------------------------------


def test_a_422_names_the_field_and_the_problem_and_never_the_value(client: TestClient) -> None:
    me = sign_in(client)
    signing_in = {"email": "ada@acme.test", "method": "password", "password": SECRET}
    cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("/api/login", "email", {"method": "password", "password": SECRET}, {}),  # FastAPI's
        ("/api/login", "totp", {**signing_in, "totp": f"{SECRET[:6]}"}, {}),  # the command's
        ("/api/login", "email", {**signing_in, "email": f"{SECRET}@acme"}, {}),
        ("/api/mfa/sms/enrol", "phone", {"phone": f"+1 {SECRET}"}, me),
        ("/api/mfa/totp/confirm", "code", {"code": SECRET * 3}, me),
    ]
    for path, field, body, headers in cases:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 422, (path, body)
        assert error_code(answer) == "invalid_input"
        assert answer.json()["error"]["message"].startswith(f"{field}: ")
        assert SECRET[:6] not in answer.text, answer.text

    form = {"email": SECRET, "login_csrf": login_csrf(client)}  # and no password
    answer = client.post("/signin", data=form)
    assert answer.status_code == 422
    assert answer.json()["error"]["message"] == "password: Field required"
    csrf = signed_in_browser(client)
    page = client.post("/security/sms/enrol", data={"csrf": csrf, "phone": f"+1 {SECRET}"})
    assert "The value given is not a valid phone number" in page.text
    assert SECRET[:6] not in page.text


# ---- 6. dates and instants in query strings -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("timeline?email=ada@acme.test&on=notadate", "on"),
        ("timeline?email=ada@acme.test&on=0001-01-01", "on"),
        ("timeline?email=ada@acme.test&on=2026-02-30", "on"),
        ("state?email=ada@acme.test&as_of=9999-12-31", "as_of"),
        ("state?email=ada@acme.test&as_of=0001-01-01T00:00:00-23:59", "as_of"),
        ("state?email=ada@acme.test&as_of=yesterday", "as_of"),
    ],
)
def test_a_malformed_date_or_instant_is_bad_input_never_a_server_error(
    client: TestClient, query: str, field: str
) -> None:
    answer = client.get(f"/api/{query}", headers=sign_in(client))
    assert answer.status_code == 422
    assert error_code(answer) == "invalid_input"
    assert answer.json()["error"]["message"].startswith(f"{field}: the value given is not ")


# ---- 7. the page's messages are its own ---------------------------------------------------


def test_the_page_shows_only_its_own_messages_chosen_by_key(client: TestClient) -> None:
    signed_in_browser(client)
    known = client.get("/security?done=totp_disabled").text
    assert '<p class="notice" role="status">Authenticator app disabled</p>' in known

    for planted in ("Your account is locked: call +1 555 0100", "Session signed out", "0"):
        page = client.get("/security", params={"done": planted}).text
        assert 'role="status"' not in page
        assert "call +1 555 0100" not in page


# ---- 8. no probing for accounts -------------------------------------------------------------


def test_naming_an_address_tells_a_visitor_nothing_about_it(
    client: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", "eve@globex.test", "--org", "globex")
    bob, admin = sign_in(client, "bob@acme.test"), sign_in(client, "admin@acme.test")
    as_of = clock.now().isoformat().replace("+00:00", "Z")
    asked = [
        (bob, "ada@acme.test"),  # same organisation, not its admin
        (bob, "eve@globex.test"),  # another organisation
        (bob, "nobody@acme.test"),  # no account at all
        (admin, "eve@globex.test"),
        (admin, "nobody@acme.test"),
    ]
    answers = set()
    for who, email in asked:
        for query in (
            f"timeline?email={email}&on=2026-11-14",
            f"state?email={email}&as_of={as_of}",
        ):
            answer = client.get(f"/api/{query}", headers=who)
            answers.add((answer.status_code, answer.text))
    assert len(answers) == 1
    status, text = answers.pop()
    assert status == 403
    assert '"admin_required"' in text
    assert (
        client.get(f"/api/state?email=ada@acme.test&as_of={as_of}", headers=admin).status_code
        == 200
    )


def test_signing_in_as_an_unknown_address_answers_exactly_like_a_wrong_password(
    client: TestClient,
) -> None:
    wrong = {"email": "ada@acme.test", "method": "password", "password": "not her password"}
    unknown = {**wrong, "email": "nobody@acme.test"}
    answers = [client.post("/api/login", json=body) for body in (wrong, unknown)]
    assert answers[0].status_code == answers[1].status_code == 401
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"]["code"] == answers[0].json()["reason"] == "invalid_password"


# ---- 9. client addresses behind proxies ---------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded_for", "ip", "peer_ip"),
    [
        ("", "203.0.113.50", "198.51.100.7", "203.0.113.50", None),  # nobody trusted
        ("10.0.0.0/8", "192.0.2.1", "198.51.100.7", "192.0.2.1", None),  # not a trusted peer
        ("10.0.0.0/8", "10.0.0.1", None, "10.0.0.1", None),
        (
            "10.0.0.0/8",
            "10.0.0.1",
            "198.51.100.7, 203.0.113.9, 10.0.0.7",
            "203.0.113.9",
            "10.0.0.1",
        ),
        ("10.0.0.1, fd00::/8", "fd00::2", "garbage, 203.0.113.9", "203.0.113.9", "fd00::2"),
        ("10.0.0.0/8", "10.0.0.1", "203.0.113.9, garbage", "10.0.0.1", None),
        ("10.0.0.0/8", "::ffff:10.0.0.1", "2001:db8::9", "2001:db8::9", "10.0.0.1"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    client: TestClient,
    store_url: str,
    clock: MovableClock,
    ledger: Ledger,
    trusted: str,
    peer: str,
    forwarded_for: str | None,
    ip: str,
    peer_ip: str | None,
) -> None:
    app = create_app(
        StoreLocation.parse(store_url),
        clock,
        forwarded_allow_ips=parse_forwarded_allow_ips(trusted),
    )
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with TestClient(app, client=(peer, 40_000)) as behind:
        body = {"email": "ada@acme.test", "method": "password", "password": PASSWORD}
        token = behind.post("/api/login", json=body, headers=headers).json()["session_token"]
        me = {"Authorization": f"Bearer {token}", **headers}
        assert [row["ip"] for row in behind.get("/api/history", headers=me).json()] == [ip]
        assert [s["ip"] for s in behind.get("/api/sessions", headers=me).json()] == [ip]
    timeline = ledger.at(clock.now()).ok("timeline", "ada@acme.test", "--on", "2026-11-14")
    client = [e for e in timeline if e["event"] == "LoginSucceeded"][-1]["details"]["client"]
    assert (client["ip"], client["peer_ip"]) == (ip, peer_ip)


def test_a_malformed_trusted_proxy_entry_is_named() -> None:
    assert parse_forwarded_allow_ips(" 10.0.0.1 ,192.168.0.0/16,fd00::/8") == (
        *parse_forwarded_allow_ips("10.0.0.1/32"),
        *parse_forwarded_allow_ips("192.168.0.0/16,fd00::/8"),
    )
    for listing, entry in [
        ("10.0.0.1,10.0.0.300", "'10.0.0.300'"),
        ("10.0.0.1/8", "'10.0.0.1/8'"),
        ("10.0.0.1,,10.0.0.2", "''"),
        ("fe80::1%eth0", "'fe80::1%eth0'"),
        ("*", "'*'"),
    ]:
        with pytest.raises(ValueError, match="is not an IP address or network") as refused:
            parse_forwarded_allow_ips(listing)
        assert str(refused.value).startswith(entry)


# ---- 10. too many attempts ------------------------------------------------------------------


def test_a_throttled_sign_in_answers_429_with_retry_after(client: TestClient) -> None:
    """A hundred failures from one address, across accounts, stop it: the right password too."""
    for n in range(100):
        guess = {"email": f"user{n % 3}@acme.test", "method": "api_key", "api_key": f"k{n}"}
        assert client.post("/api/login", json=guess).status_code == 401
    body = {"email": "ada@acme.test", "method": "password", "password": PASSWORD}

    answer = client.post("/api/login", json=body)

    assert answer.status_code == 429
    assert 0 < int(answer.headers["retry-after"]) <= 24 * 3600
    assert answer.json() == {
        "outcome": "failed",
        "reason": "too_many_attempts",
        "error": {
            "code": "too_many_attempts",
            "message": "too many failed sign-ins from your network: try again later",
        },
    }

    form = {"email": "ada@acme.test", "password": PASSWORD, "login_csrf": login_csrf(client)}
    page = client.post("/signin", data=form, follow_redirects=False)
    assert page.status_code == 429
    assert int(page.headers["retry-after"]) > 0
    assert "Too many attempts: wait a little, then try again." in page.text
    assert 'name="login_csrf"' in page.text  # the form, ready for the next try
