"""The Security tab's HTTP API and page, through FastAPI's test client, on both stores.

The server's clock is one the tests move (tests/web/conftest.py), so that "ten minutes later"
is real to the ledger.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

from projections.export_files import manifest_path, verify_export
from tests.conftest import T0, Ledger
from tests.ocsf_schema import conform
from tests.web.conftest import MovableClock, error_code, sign_in, signed_in_browser


def enable_totp(client: TestClient, me: dict[str, str], clock: MovableClock) -> str:
    secret = client.post("/api/mfa/totp/enrol", headers=me).json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    confirmed = client.post("/api/mfa/totp/confirm", headers=me, json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    assert len(confirmed.json()["recovery_codes"]) == 10
    return str(secret)


# ---- authentication ----------------------------------------------------------------------


def test_a_session_token_opens_the_api_and_a_revoked_one_is_refused_on_its_next_request(
    client: TestClient, ledger: Ledger
) -> None:
    me = sign_in(client)
    assert client.get("/api/mfa", headers=me).status_code == 200
    session_id = client.get("/api/sessions", headers=me).json()[0]["session_id"]

    ledger.at(T0 + timedelta(hours=2)).ok("sessions", "revoke", "ada@acme.test", session_id)

    refused = client.get("/api/mfa", headers=me)
    assert refused.status_code == 401
    assert error_code(refused) == "not_signed_in"


def test_the_accounts_decision_elsewhere_ends_a_session_on_its_very_next_request(
    client: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    """The server keeps the account and session it checked last; the panic button pressed in
    another process is still read before the next request is answered."""
    me, other = sign_in(client), sign_in(client)
    assert client.get("/api/mfa", headers=me).status_code == 200
    assert client.get("/api/mfa", headers=other).status_code == 200
    kept = client.get("/api/sessions", headers=other).json()
    keep = next(s["session_id"] for s in kept if s.get("current"))

    ledger.at(clock.instant + timedelta(minutes=1)).ok(
        "sessions", "revoke-others", "ada@acme.test", "--keep", keep
    )
    clock.advance(minutes=2)

    assert client.get("/api/mfa", headers=me).status_code == 401
    assert client.get("/api/mfa", headers=other).status_code == 200


def test_an_organisations_new_mfa_requirement_restricts_a_signed_in_session_at_once(
    client: TestClient, ledger: Ledger
) -> None:
    me = sign_in(client)
    assert client.get("/api/sessions", headers=me).status_code == 200

    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")

    refused = client.get("/api/sessions", headers=me)
    assert (refused.status_code, error_code(refused)) == (403, "mfa_enrolment_required")
    assert client.get("/api/mfa", headers=me).status_code == 200  # enrolling is still open


@pytest.mark.parametrize(
    "header", [None, "Bearer ", "Bearer fls.not-a-token", "Basic YWRhOnB3", "Bearer " + "x" * 600]
)
def test_without_a_valid_token_nothing_is_answered(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for path in ("/api/mfa", "/api/sessions", "/api/history", "/api/audit", "/api/api-keys"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, path
        assert "error" in answer.json()


def test_a_wrong_password_is_refused_with_the_contract_reason_and_recorded(
    client: TestClient,
) -> None:
    body = {"email": "ada@acme.test", "method": "password", "password": "wrong password!"}
    refused = client.post("/api/login", json=body)
    assert refused.status_code == 401
    assert refused.json() == {
        "outcome": "failed",
        "reason": "invalid_password",
        "error": {"code": "invalid_password", "message": "wrong e-mail or password"},
    }

    history = client.get("/api/history", headers=sign_in(client)).json()
    assert [h["outcome"] for h in history] == ["success", "failed"]
    assert history[1]["reason"] == "invalid_password"


# ---- re-authentication before sensitive changes --------------------------------------------


def test_disabling_a_factor_needs_a_second_factor_proven_in_the_last_ten_minutes(
    client: TestClient, clock: MovableClock
) -> None:
    me = sign_in(client)
    secret = enable_totp(client, me, clock)
    clock.advance(minutes=11)

    stale = client.post("/api/mfa/disable", headers=me, json={"factor": "totp"})
    assert stale.status_code == 403
    assert error_code(stale) == "reauthentication_required"
    assert client.get("/api/mfa", headers=me).json()["totp"]["enabled"] is True

    code = pyotp.TOTP(secret).at(clock.now())
    assert client.post("/api/mfa/totp/verify", headers=me, json={"code": code}).status_code == 200
    clock.advance(minutes=9)
    disabled = client.post("/api/mfa/disable", headers=me, json={"factor": "totp"})
    assert disabled.status_code == 200, disabled.text
    assert client.get("/api/mfa", headers=me).json()["totp"]["enabled"] is False


def test_regenerating_recovery_codes_needs_a_fresh_factor_and_a_sign_in_with_one_counts(
    client: TestClient, clock: MovableClock
) -> None:
    secret = enable_totp(client, sign_in(client), clock)
    clock.advance(minutes=30)
    code = pyotp.TOTP(secret).at(clock.now())
    with_factor = sign_in(client, totp=code)
    without = {"Authorization": with_factor["Authorization"]}
    clock.advance(minutes=11)
    assert error_code(client.post("/api/mfa/recovery-codes/regenerate", headers=without)) == (
        "reauthentication_required"
    )
    clock.advance(minutes=1)
    fresh = sign_in(client, totp=pyotp.TOTP(secret).at(clock.now()))
    regenerated = client.post("/api/mfa/recovery-codes/regenerate", headers=fresh)
    assert regenerated.status_code == 200
    assert len(regenerated.json()["recovery_codes"]) == 10


# ---- what the API does -------------------------------------------------------------------


def test_totp_enrolment_answers_a_qr_code_as_svg_and_no_secret_travels_in_a_url(
    client: TestClient, clock: MovableClock
) -> None:
    me = sign_in(client)
    enrolment = client.post("/api/mfa/totp/enrol", headers=me).json()
    assert enrolment["qr_svg"].startswith("<svg")
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    paths = client.get("/openapi.json").json()["paths"]
    public_ids = ("{session_id}", "{key_id}", "{slug}")  # what a URL may name: no secret
    assert all("{" not in path or any(name in path for name in public_ids) for path in paths)


def test_sessions_list_revoke_and_revoke_others(client: TestClient) -> None:
    me, phone, laptop = sign_in(client), sign_in(client), sign_in(client)
    sessions = client.get("/api/sessions", headers=me).json()
    assert len(sessions) == 3
    assert sum(s["current"] for s in sessions) == 1
    other = next(s["session_id"] for s in sessions if not s["current"])

    assert client.post(f"/api/sessions/{other}/revoke", headers=me).status_code == 200
    assert client.post("/api/sessions/revoke-others", headers=me).json() == {"revoked": 1}

    assert client.get("/api/mfa", headers=phone).status_code == 401
    assert client.get("/api/mfa", headers=laptop).status_code == 401
    assert len(client.get("/api/sessions", headers=me).json()) == 1


def test_sessions_come_a_page_at_a_time_over_the_api_and_on_the_page(
    client: TestClient, clock: MovableClock
) -> None:
    headers = []
    for _ in range(4):
        clock.advance(minutes=1)
        headers.append(sign_in(client))
    me = headers[-1]

    first = client.get("/api/sessions", headers=me, params={"limit": 3}).json()
    cursor = first[-1]["cursor"]
    rest = client.get("/api/sessions", headers=me, params={"limit": 3, "cursor": cursor}).json()

    assert [s["opened_by"] for s in first] == ["password"] * 3
    assert len(first) == 3 and len(rest) == 1
    assert first[0]["current"] is True
    everything = client.get("/api/sessions", headers=me).json()
    assert [s["session_id"] for s in first + rest] == [s["session_id"] for s in everything]
    bad = client.get("/api/sessions", headers=me, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422
    assert "not-a-cursor" not in bad.text

    clock.advance(minutes=1)
    signed_in_browser(client)  # a fifth session; the page shows 50 at a time
    assert "Show more sessions" not in client.get("/security").text
    key = client.post("/api/api-keys", headers=me, json={"name": "ci"}).json()["key"]
    clock.advance(minutes=1)
    for _ in range(50):
        by_key = {"email": "ada@acme.test", "method": "api_key", "api_key": key}
        assert client.post("/api/login", json=by_key).status_code == 200
    page = client.get("/security").text
    assert page.count("data-session=") == 50
    more = page.split('href="/security?sessions_after=')[1].split("#")[0]
    later = client.get("/security", params={"sessions_after": more}).text
    assert later.count("data-session=") == 5
    assert all(s["session_id"] in later for s in everything)
    assert "Most recent sessions" in later and "Show more sessions" not in later


def test_api_keys_audit_and_export_mirror_the_command_line(
    client: TestClient, ledger: Ledger
) -> None:
    me = sign_in(client)
    issued = client.post("/api/api-keys", headers=me, json={"name": "ci"}).json()
    assert issued["key"].startswith("flk.")
    assert client.post(f"/api/api-keys/{issued['key_id']}/revoke", headers=me).status_code == 200
    keys = client.get("/api/api-keys", headers=me).json()
    assert [(k["name"], bool(k["revoked"])) for k in keys] == [("ci", True)]
    actions = [entry["action"] for entry in client.get("/api/audit", headers=me).json()]
    assert actions[:2] == ["api_key_revoked", "api_key_created"]

    export = client.get("/api/export", headers=me).json()
    assert "api_key_created" in export["file"] or "ApiKeyCreated" in export["file"]
    assert issued["key"] not in export["file"] + export["manifest"]
    assert '"signature"' in export["manifest"]


def test_the_export_comes_as_ocsf_too_signed_and_verifiable(
    client: TestClient, tmp_path: Path
) -> None:
    me = sign_in(client)
    client.post("/api/api-keys", headers=me, json={"name": "ci"})

    answer = client.get("/api/export", headers=me, params={"format": "ocsf"})

    assert answer.status_code == 200, answer.text
    export = answer.json()
    lines = [json.loads(line) for line in export["file"].splitlines()]
    assert [line["metadata"]["event_code"] for line in lines][-2:] == [
        "LoginSucceeded",
        "ApiKeyCreated",
    ]
    for line in lines:
        conform(line)
    assert json.loads(export["manifest"])["format"] == "ocsf"
    path = tmp_path / json.loads(export["manifest"])["file"]
    path.write_text(export["file"])
    manifest_path(path).write_text(export["manifest"])
    assert verify_export(path) is None
    assert client.get("/api/export", headers=me, params={"format": "xml"}).status_code == 422


def test_forensics_on_another_account_are_for_its_organisation_admins_only(
    client: TestClient, clock: MovableClock
) -> None:
    day = clock.now().date().isoformat()
    bob = sign_in(client, "bob@acme.test")
    refused = client.get(f"/api/timeline?email=ada@acme.test&on={day}", headers=bob)
    assert refused.status_code == 403
    assert error_code(refused) == "admin_required"

    admin = sign_in(client, "admin@acme.test")
    timeline = client.get(f"/api/timeline?email=ada@acme.test&on={day}", headers=admin)
    assert timeline.status_code == 200
    as_of = clock.now().isoformat().replace("+00:00", "Z")
    state = client.get(f"/api/state?email=ada@acme.test&as_of={as_of}", headers=admin).json()
    assert state["mfa"]["totp"]["enabled"] is False


def test_every_answer_carries_strict_security_headers(client: TestClient) -> None:
    for answer in (
        client.get("/signin"),
        client.get("/api/mfa"),
        client.get("/openapi.json"),
        client.get("/security", follow_redirects=False),
    ):
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"


# ---- the page ----------------------------------------------------------------------------


def test_the_page_needs_a_session_and_then_shows_the_security_tab(client: TestClient) -> None:
    redirected = client.get("/security", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/signin"

    signed_in_browser(client)
    page = client.get("/security").text
    for text in ("Two-factor authentication", "Authenticator app", "SMS", "Recovery codes"):
        assert text in page
    for text in ("Active sessions", "Sign out all other sessions", "Login history", "Audit log"):
        assert text in page


def test_a_form_posted_without_the_session_csrf_token_changes_nothing(
    client: TestClient,
) -> None:
    other = sign_in(client)
    csrf = signed_in_browser(client)
    for forged in ("", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        answer = client.post(
            "/security/sessions/revoke-others", data={"csrf": forged}, follow_redirects=False
        )
        assert answer.status_code in (403, 422)
        assert client.get("/api/mfa", headers=other).status_code == 200, "a forged form acted"

    done = client.post("/security/sessions/revoke-others", data={"csrf": csrf})
    assert done.status_code == 200
    assert client.get("/api/mfa", headers=other).status_code == 401


def test_sms_is_added_and_confirmed_with_the_texted_code(
    client: TestClient, ledger: Ledger
) -> None:
    me = sign_in(client)
    bad = client.post("/api/mfa/sms/enrol", headers=me, json={"phone": "+44 not a phone"})
    assert bad.status_code == 422
    assert client.post("/api/mfa/sms/enrol", headers=me, json={"phone": "+14155550123"}).json() == {
        "ok": True,
        "sent": True,
    }
    texted = ledger.ok("sms", "outbox")[0]["body"].split(" code is ")[1][:6]

    wrong = "000000" if texted != "000000" else "111111"
    refused = client.post("/api/mfa/sms/confirm", headers=me, json={"code": wrong})
    assert refused.status_code == 409
    assert error_code(refused) == "invalid_mfa_code"
    confirmed = client.post("/api/mfa/sms/confirm", headers=me, json={"code": texted}).json()
    assert len(confirmed["recovery_codes"]) == 10
    sms = client.get("/api/mfa", headers=me).json()["sms"]
    assert sms["enabled"] is True
    assert "0123" in sms["phone"] and "+14155550123" not in sms["phone"]  # shown masked
