"""Text output as a person reads it in an 80-column terminal: ids whole, instants to the
second, details in words, a past state without buttons. JSON stays as it is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.test_sessions import PASSWORD, sign_in
from tests.cli.test_sms import MASKED_PHONE, enable_sms
from tests.conftest import T0, Ledger
from tests.identity_provider import SigningIdp
from tests.unit.test_user_agents import CHROME_WINDOWS, SAFARI_IPHONE

GRACE = "grace@acme.test"
# Python's way of writing things, which a person should never have to read.
REPRS = ("['", "{'", '{"', "True", "False", "None", "\\u")


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def grace(ledger: Ledger, account: str) -> str:
    ledger.ok("user", "create", GRACE, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    return GRACE


def lines_fit(text: str, width: int = 80) -> bool:
    return all(len(line) <= width for line in text.splitlines())


def test_at_80_columns_every_session_id_is_shown_whole_and_the_table_fits(
    ledger: Ledger, grace: str, narrow: None
) -> None:
    ids = [
        sign_in(ledger.later(minutes=1), grace, agent)["session_id"]
        for agent in (CHROME_WINDOWS, SAFARI_IPHONE, CHROME_WINDOWS + " " + "x" * 120)
    ]

    shown = ledger.run("sessions", "list", grace).stdout

    assert lines_fit(shown), shown
    for session_id in ids:
        assert session_id in shown, shown
    assert "…" not in shown
    # The footer names commands that take those ids, for this very account.
    assert f"sessions revoke {grace}" in shown.replace("\n", " ")


def test_at_80_columns_api_key_ids_are_shown_whole(
    ledger: Ledger, account: str, narrow: None
) -> None:
    keys = [
        ledger.ok("api-keys", "create", account, "--name", name)["key_id"]
        for name in ("nightly-backups", "a-rather-long-name-for-an-automation-" + "x" * 20)
    ]

    shown = ledger.run("api-keys", "list", account).stdout

    assert lines_fit(shown), shown
    for key_id in keys:
        assert key_id in shown


def test_text_shows_instants_to_the_second_and_json_keeps_them_whole(
    ledger: Ledger, grace: str
) -> None:
    ledger.at(T0 + timedelta(seconds=7, microseconds=123456))
    sign_in(ledger, grace)

    text = ledger.run("sessions", "list", grace).stdout
    document = ledger.ok("sessions", "list", grace)

    assert "2026-11-14 09:00:07" in text
    assert "123456" not in text
    assert document[0]["created"] == "2026-11-14T09:00:07.123456Z"
    history = ledger.run("history", grace).stdout
    assert "2026-11-14 09:00:07" in history and "123456" not in history


def test_the_timeline_is_a_table_in_words_and_json_keeps_the_details(
    ledger: Ledger, account: str
) -> None:
    enable_sms(ledger, account)
    ledger.ok("workspace", "grant", account, "design", "--role", "admin")

    text = ledger.run("timeline", account, "--on", "2026-11-14").stdout
    events = ledger.ok("timeline", account, "--on", "2026-11-14")

    assert MASKED_PHONE in text  # the bullets themselves, not \u2022 escapes
    assert "workspace: design; role: admin" in text
    for leaked in REPRS:
        assert leaked not in text, (leaked, text)
    assert "09:00:00" in text and "09:00:00Z" not in text
    confirmed = next(e for e in events if e["event"] == "SmsEnrolmentConfirmed")
    assert confirmed["details"] == {"phone": MASKED_PHONE}


def test_an_empty_day_says_so(ledger: Ledger, account: str) -> None:
    text = ledger.run("timeline", account, "--on", "2026-01-01").stdout

    assert "Nothing was recorded" in text


def test_the_audit_log_reads_as_words_without_reprs(ledger: Ledger, grace: str) -> None:
    sign_in(ledger, grace)
    kept = sign_in(ledger.later(minutes=1), grace)["session_id"]
    sign_in(ledger.later(minutes=1), grace)
    key = ledger.ok("api-keys", "create", grace, "--name", "ci")["key_id"]
    ledger.ok("sessions", "revoke-others", grace, "--keep", kept)
    ledger.ok("api-keys", "revoke", grace, key)

    text = ledger.run("audit", grace).stdout

    assert f"key id: {key}" in text
    assert "2 sessions ended" in text
    for leaked in (*REPRS, "="):
        assert leaked not in text, (leaked, text)


def test_a_past_state_offers_no_actions_and_names_the_policy_in_words(
    ledger: Ledger, grace: str
) -> None:
    sign_in(ledger, grace)
    ledger.ok("org", "require-mfa", "acme", "on")
    enable_sms(ledger.later(minutes=1), grace)
    as_of = ledger.later(minutes=1).now

    past = ledger.run("state", grace, "--as-of", as_of.isoformat()).stdout
    present = ledger.run("mfa", "status", grace).stdout

    assert "[Disable]" in present  # today's Security tab offers the buttons...
    for action in ("[Disable]", "[Enable", "Sign out", "sessions revoke"):
        assert action not in past, (action, past)  # ...the past cannot be changed
    assert "Organisation acme: MFA required; no SSO" in past
    for leaked in REPRS:
        assert leaked not in past, (leaked, past)


def test_sso_settings_and_a_past_state_under_sso_read_as_words(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    idp = SigningIdp()
    keys = ("--jwks-file", str(idp.jwks_file(tmp_path)))
    sso = ("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer)

    said = ledger.run(*sso, "--client-id", idp.client_id, *keys, "--mfa", "idp", "--enforce")
    past = ledger.later(minutes=1).run("state", account, "--as-of", ledger.now.isoformat())

    assert said.exit_code == 0, said.output
    assert "the IdP's MFA is enough; password sign-ins refused" in said.stdout
    assert "SSO through okta (the IdP's MFA is enough; password sign-ins refused)" in past.stdout
    for leaked in REPRS:
        assert leaked not in said.stdout + past.stdout, leaked


def test_a_sign_in_in_its_grace_period_gives_the_deadline_to_the_second(
    ledger: Ledger, grace: str
) -> None:
    ledger.later(microseconds=250).ok("org", "require-mfa", "acme", "on", "--grace-days", "7")

    said = ledger.later(minutes=1).run(
        *("login", grace, "--method", "password", "--ip", "81.2.69.160"),
        *("--user-agent", CHROME_WINDOWS, "--password-stdin"),
        stdin=PASSWORD + "\n",
    )

    assert said.exit_code == 0, said.output
    assert "enrol a factor by 2026-11-21 09:00:00 UTC" in said.stdout
