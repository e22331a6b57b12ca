"""The main job: `demo` tells a 120-day story and shows the account's Security page."""

from __future__ import annotations

from tests.conftest import Ledger


def test_demo_builds_a_history_and_shows_the_security_page(ledger: Ledger) -> None:
    page = ledger.ok("demo")

    assert page["email"] == "ada@flero-demo.test"
    mfa = page["mfa"]
    assert mfa["totp"]["enabled"] and mfa["sms"]["enabled"]
    assert mfa["org_requires_mfa"] is True
    assert mfa["recovery_codes"]["remaining"] == 10
    actions = {entry["action"] for entry in page["audit"]}
    assert {
        "mfa_enabled",
        "mfa_disabled",
        "recovery_codes_regenerated",
        "password_changed",
        "workspace_membership_changed",
        "mfa_verification_failed",
    } <= actions
    assert {"session_revoked", "api_key_created"} <= actions
    browsers = {session["browser"] for session in page["sessions"]}
    assert {"Chrome 126", "Safari 17"} <= browsers
    outcomes = {(entry["outcome"], entry["reason"]) for entry in page["history"]}
    assert ("failed", "invalid_password") in outcomes and ("success", None) in outcomes
    assert len({entry["location"] for entry in page["history"]}) >= 3  # several countries
    assert page["alerts"] and "Sweden" in page["alerts"][0]["message"]
    days = {entry["timestamp"][:10] for entry in page["audit"]}
    assert len(days) >= 6  # the story spans months, not one instant
    timestamps = [entry["timestamp"] for entry in page["audit"]]
    assert timestamps == sorted(timestamps, reverse=True)


def test_demo_again_shows_the_same_story_without_recording_more(ledger: Ledger) -> None:
    first = ledger.ok("demo")
    events = ledger.event_count()
    assert ledger.ok("demo") == first
    assert ledger.event_count() == events


def test_demo_human_output_reads_like_the_security_tab(ledger: Ledger) -> None:
    result = ledger.run("demo")
    assert result.exit_code == 0, result.output
    for words in (
        "Authenticator app",
        "enabled",
        "SIM swap",
        "Recovery codes",
        "Active sessions",
        "Login history",
        "Security alert",
        "Audit log",
    ):
        assert words in result.stdout
