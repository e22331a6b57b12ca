"""Refusals (exit 1, one line on stderr, nothing appended) and the ledger's one-way clock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import Result

from cli import main
from ledger.clock import format_instant
from tests.conftest import T0, Ledger

ADA = "ada@acme.test"
GHOST = "ghost@acme.test"
PROVIDER = ("--issuer", "https://idp.acme.test", "--client-id", "flero-ledger")  # for org sso

COMMANDS_ON_A_USER = [
    ("user", "alerts", GHOST, "--security", "off"),
    ("workspace", "grant", GHOST, "docs", "--role", "member"),
    ("workspace", "revoke", GHOST, "docs"),
    ("mfa", "status", GHOST),
    ("mfa", "totp", "enrol", GHOST),
    ("mfa", "totp", "verify", GHOST, "123456"),
    ("mfa", "sms", "enrol", GHOST, "--phone", "+14155550123"),
    ("mfa", "disable", GHOST, "totp"),
    ("mfa", "recovery-codes", "regenerate", GHOST),
    ("mfa", "recovery-codes", "use", GHOST, "abcd-efgh-jkmn"),
    ("org", "admin", "add", "acme", GHOST),
    ("audit", GHOST),
]

COMMANDS_ON_AN_ORG = [
    ("user", "create", "bob@nowhere.test", "--org", "nowhere"),
    ("org", "require-mfa", "nowhere", "on"),
    ("org", "sso", "nowhere", "--idp", "okta", *PROVIDER, "--mfa", "idp", "--enforce"),
    ("org", "admin", "add", "nowhere", ADA),
]


def ids(commands: list[tuple[str, ...]]) -> list[str]:
    return [" ".join(c[:3]) for c in commands]


@pytest.mark.parametrize("command", COMMANDS_ON_A_USER, ids=ids(COMMANDS_ON_A_USER))
def test_an_unknown_user_is_refused_and_nothing_is_appended(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    before = ledger.event_count()

    error = ledger.refused(*command, code="unknown_user")

    assert GHOST in error["error"]["message"]
    assert ledger.event_count() == before
    ledger.refused("mfa", "status", GHOST, code="unknown_user")  # and it was not created


@pytest.mark.parametrize("command", COMMANDS_ON_AN_ORG, ids=ids(COMMANDS_ON_AN_ORG))
def test_an_unknown_organisation_is_refused_and_nothing_is_appended(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    before = ledger.event_count()

    error = ledger.refused(*command, code="unknown_org")

    assert "nowhere" in error["error"]["message"]
    assert ledger.event_count() == before


def test_an_unknown_users_password_cannot_be_set(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    result = ledger.run(
        "user", "set-password", GHOST, "--password-stdin", "--json", stdin="long enough 1\n"
    )

    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "unknown_user"
    assert ledger.event_count() == before


def test_an_organisation_is_created_once(ledger: Ledger) -> None:
    created = ledger.ok("org", "create", "acme")
    assert created["slug"] == "acme"
    before = ledger.event_count()

    error = ledger.later(minutes=1).refused("org", "create", "acme", code="org_exists")

    assert "acme" in error["error"]["message"]
    assert ledger.event_count() == before


@pytest.mark.parametrize(
    ("again", "org"),
    [
        (ADA, "acme"),
        ("ADA@Acme.Test", "acme"),  # e-mail addresses are compared case-insensitively
        (ADA, "globex"),  # an address belongs to one account, whatever the organisation
    ],
)
def test_an_account_is_created_once(ledger: Ledger, account: str, again: str, org: str) -> None:
    ledger.ok("org", "create", "globex")
    before = ledger.event_count()

    error = ledger.later(minutes=1).refused(
        "user", "create", again, "--org", org, code="account_exists"
    )

    assert ADA in error["error"]["message"]
    assert ledger.event_count() == before


# ---- the clock only moves forward -----------------------------------------------------------

ACCOUNT_CHANGES = [
    ("user", "alerts", ADA, "--security", "on"),
    ("workspace", "grant", ADA, "docs", "--role", "viewer"),
    ("mfa", "totp", "enrol", ADA),
    ("mfa", "sms", "enrol", ADA, "--phone", "+14155550123"),
    # would otherwise be refused as invalid, and that refusal recorded
    ("mfa", "recovery-codes", "use", ADA, "abcd-efgh-jkmn"),
]


@pytest.mark.parametrize("command", ACCOUNT_CHANGES, ids=ids(ACCOUNT_CHANGES))
def test_now_before_the_accounts_last_event_is_refused_and_appends_nothing(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    ledger.at(T0 + timedelta(hours=1)).ok("user", "alerts", ADA, "--security", "off")
    before = ledger.event_count()

    error = ledger.at(T0 + timedelta(minutes=30)).refused(*command, code="clock_behind")

    assert "2026-11-14T10:00:00" in error["error"]["message"]  # the last recorded instant
    assert ledger.event_count() == before
    assert ledger.ok("sms", "outbox") == []  # no code was texted either
    assert [e["timestamp"] for e in ledger.ok("audit", ADA)] == [
        "2026-11-14T10:00:00Z",
        "2026-11-14T09:00:00Z",
    ]


@pytest.mark.parametrize("command", ACCOUNT_CHANGES[:3], ids=ids(ACCOUNT_CHANGES[:3]))
def test_now_exactly_at_the_accounts_last_event_is_accepted(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    ledger.at(T0 + timedelta(hours=1)).ok("user", "alerts", ADA, "--security", "off")
    before = ledger.event_count()

    ledger.ok(*command)  # the same instant as the last event

    assert ledger.event_count() == before + 1


def test_each_account_keeps_its_own_clock(ledger: Ledger, account: str) -> None:
    """Another account's later events do not stop this one catching up to its own time."""
    ledger.at(T0 + timedelta(hours=2)).ok("user", "create", "bob@acme.test", "--org", "acme")

    ledger.at(T0 + timedelta(hours=1)).ok("user", "alerts", ADA, "--security", "off")

    assert ledger.ok("audit", ADA)[0]["timestamp"] == "2026-11-14T10:00:00Z"


ORG_CHANGES = [
    ("org", "require-mfa", "acme", "off"),
    ("org", "sso", "acme", "--idp", "okta", *PROVIDER, "--mfa", "both"),
    ("org", "admin", "add", "acme", ADA),
    ("user", "create", "bob@acme.test", "--org", "acme"),
]


@pytest.mark.parametrize("command", ORG_CHANGES, ids=ids(ORG_CHANGES))
def test_now_before_the_organisations_last_event_is_refused_exactly_at_it_accepted(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    ledger.at(T0 + timedelta(hours=1)).ok("org", "require-mfa", "acme", "on")
    before = ledger.event_count()

    ledger.at(T0 + timedelta(minutes=59)).refused(*command, code="clock_behind")
    assert ledger.event_count() == before

    ledger.at(T0 + timedelta(hours=1)).ok(*command)
    assert ledger.event_count() == before + 1


# ---- what a refusal looks like ----------------------------------------------------------


REFUSED_COMMANDS = {
    "unknown_user": ("user", "alerts", GHOST, "--security", "off"),
    "unknown_org": ("org", "require-mfa", "nowhere", "on"),
    "org_exists": ("org", "create", "acme"),
    "account_exists": ("user", "create", ADA, "--org", "acme"),
    "clock_behind": ("user", "alerts", ADA, "--security", "on"),  # run half an hour back
    "mfa_not_enabled": ("mfa", "recovery-codes", "regenerate", ADA),
    "factor_not_enabled": ("mfa", "disable", ADA, "totp"),
    "not_a_member": ("workspace", "revoke", ADA, "docs"),
}
REASONS = list(REFUSED_COMMANDS)


def refused_command(ledger: Ledger, reason: str) -> tuple[str, ...]:
    """A command refused for `reason` in the `account` fixture's world, clock set for it."""
    ledger.later(hours=1).ok("user", "alerts", ADA, "--security", "off")
    if reason == "clock_behind":
        ledger.later(minutes=-30)
    return REFUSED_COMMANDS[reason]


@pytest.mark.parametrize("reason", REASONS)
def test_a_refusal_is_exit_1_and_exactly_one_line_on_stderr(
    ledger: Ledger, account: str, reason: str
) -> None:
    command = refused_command(ledger, reason)

    result = ledger.run(*command)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("reason", REASONS)
def test_with_json_a_refusal_is_one_error_document_and_still_one_line_on_stderr(
    ledger: Ledger, account: str, reason: str
) -> None:
    command = refused_command(ledger, reason)

    result = ledger.run(*command, "--json")

    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1, result.stdout
    document = json.loads(result.stdout)
    assert document == {"error": {"code": reason, "message": document["error"]["message"]}}
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr == f"Error: {document['error']['message']}\n"


# ---- FLERO_LEDGER_NOW ----------------------------------------------------------------------


def run_with_env_now(ledger: Ledger, now: str, *args: str, flag: str | None = None) -> Result:
    """Run like a user who exported FLERO_LEDGER_NOW (and maybe also passed --now)."""
    global_args = ["--db", ledger.url, *(["--now", flag] if flag else [])]
    result = ledger.runner.invoke(
        main, [*global_args, *args, "--json"], env={"FLERO_LEDGER_NOW": now}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_now_can_come_from_the_environment(ledger: Ledger, account: str) -> None:
    next_day = format_instant(T0 + timedelta(days=1))

    result = run_with_env_now(ledger, next_day, "user", "alerts", ADA, "--security", "off")

    assert result.exit_code == 0, result.output
    assert ledger.at(T0 + timedelta(days=1)).ok("audit", ADA)[0] == {
        "timestamp": "2026-11-15T09:00:00Z",
        "action": "alert_settings_changed",
        "actor": ADA,
        "ip": None,
        "details": {"security": "off"},
    }


def test_now_from_the_environment_is_held_to_the_same_clock_rule(
    ledger: Ledger, account: str
) -> None:
    ledger.later(days=1).ok("user", "alerts", ADA, "--security", "off")
    before = ledger.event_count()
    earlier = format_instant(T0 + timedelta(hours=12))

    result = run_with_env_now(ledger, earlier, "user", "alerts", ADA, "--security", "on")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "clock_behind"
    assert ledger.event_count() == before


def test_an_explicit_now_wins_over_the_environment(ledger: Ledger, account: str) -> None:
    ledger.later(days=1).ok("user", "alerts", ADA, "--security", "off")
    earlier = format_instant(T0 + timedelta(hours=12))
    explicit = format_instant(T0 + timedelta(days=2))

    result = run_with_env_now(
        ledger, earlier, "user", "alerts", ADA, "--security", "on", flag=explicit
    )

    assert result.exit_code == 0, result.output
    assert ledger.later(days=1).ok("audit", ADA)[0]["timestamp"] == "2026-11-16T09:00:00Z"


def test_a_malformed_now_in_the_environment_is_bad_input(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    result = run_with_env_now(ledger, "yesterday", "user", "alerts", ADA, "--security", "off")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    assert ledger.event_count() == before


def test_a_clock_behind_the_organisation_is_refused_even_when_nothing_would_change(
    ledger: Ledger, account: str
) -> None:
    """Appointing an existing admin again records nothing, but `--now` still may not go back."""
    ledger.at(T0 + timedelta(hours=1)).ok("org", "admin", "add", "acme", ADA)
    before = ledger.event_count()

    ledger.at(T0 + timedelta(minutes=30)).refused(
        "org", "admin", "add", "acme", ADA, code="clock_behind"
    )

    assert ledger.event_count() == before
