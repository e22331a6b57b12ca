"""Organisations (SSO, admins), user settings, workspaces, and reading the audit log back."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import Result

from tests.conftest import T0, Ledger

ADMIN = "admin@acme.test"
ISSUER = "https://idp.acme.test"
CLIENT_ID = "flero-ledger"
# The OpenID provider an `org sso` names (its keys are only fetched when someone signs in).
PROVIDER = ("--issuer", ISSUER, "--client-id", CLIENT_ID)


def set_password(ledger: Ledger, email: str, password: str, *extra: str) -> Result:
    """`user set-password EMAIL --password-stdin --json`, the password typed on stdin."""
    return ledger.run(
        "user", "set-password", email, "--password-stdin", *extra, "--json", stdin=password + "\n"
    )


def actions(entries: list[dict[str, object]]) -> list[object]:
    return [entry["action"] for entry in entries]


@pytest.fixture
def admin(ledger: Ledger, account: str) -> str:
    """admin@acme.test, an admin of acme."""
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    return ADMIN


# ---- single sign-on and passwords ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["idp", "flero", "both"])
@pytest.mark.parametrize("enforce", [[], ["--enforce"], ["--no-enforce"]])
def test_sso_is_configured_and_confirmed_back(
    ledger: Ledger, account: str, mode: str, enforce: list[str]
) -> None:
    before = ledger.event_count()

    configured = ledger.ok(
        "org", "sso", "acme", "--idp", "okta", *PROVIDER, "--mfa", mode, *enforce
    )

    assert configured == {
        "ok": True,
        "slug": "acme",
        "idp": "okta",
        "mfa": mode,
        "enforced": enforce == ["--enforce"],
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "domains": [],
    }
    assert ledger.event_count() == before + 1


def test_a_password_change_is_in_the_audit_log_without_the_password(
    ledger: Ledger, account: str
) -> None:
    result = set_password(ledger, account, "correct horse battery", "--ip", "203.0.113.9")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ok": True}
    latest = ledger.ok("audit", account)[0]
    assert latest == {
        "timestamp": "2026-11-14T09:00:00Z",
        "action": "password_changed",
        "actor": account,
        "ip": "203.0.113.9",
        "details": {},
    }
    assert "horse" not in result.stdout + result.stderr


def test_an_enforced_sso_takes_passwords_out_of_flero(ledger: Ledger, account: str) -> None:
    ledger.ok("org", "sso", "acme", "--idp", "okta", *PROVIDER, "--mfa", "idp", "--enforce")
    before = ledger.event_count()

    refused = set_password(ledger, account, "correct horse battery")

    assert refused.exit_code == 1
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "password_managed_by_idp"
    assert "identity provider" in error["message"]
    assert ledger.event_count() == before
    assert "password_changed" not in actions(ledger.ok("audit", account))

    # Once the organisation stops enforcing SSO, passwords are Flero's business again.
    ledger.later(minutes=1).ok(
        "org", "sso", "acme", "--idp", "okta", *PROVIDER, "--mfa", "idp", "--no-enforce"
    )
    assert set_password(ledger, account, "correct horse battery").exit_code == 0
    assert ledger.ok("audit", account)[0]["action"] == "password_changed"


@pytest.mark.parametrize("mode", ["idp", "flero", "both"])
def test_sso_that_is_not_enforced_leaves_passwords_alone(
    ledger: Ledger, account: str, mode: str
) -> None:
    ledger.ok("org", "sso", "acme", "--idp", "azure-ad", *PROVIDER, "--mfa", mode)

    assert set_password(ledger, account, "correct horse battery").exit_code == 0


def test_sso_in_another_organisation_does_not_matter(ledger: Ledger, account: str) -> None:
    ledger.ok("org", "create", "globex")
    ledger.ok("org", "sso", "globex", "--idp", "okta", *PROVIDER, "--mfa", "idp", "--enforce")

    assert set_password(ledger, account, "correct horse battery").exit_code == 0


# ---- alerts and workspaces --------------------------------------------------------------


@pytest.mark.parametrize("state", ["off", "on"])
def test_security_alert_settings_are_audited(ledger: Ledger, account: str, state: str) -> None:
    changed = ledger.ok("user", "alerts", account, "--security", state)

    assert changed == {"ok": True, "security": state == "on"}
    latest = ledger.ok("audit", account)[0]
    assert latest["action"] == "alert_settings_changed"
    assert latest["details"] == {"security": state}


def test_workspace_grants_and_revocations_are_audited(ledger: Ledger, account: str) -> None:
    ledger.ok("workspace", "grant", account, "docs", "--role", "viewer")
    ledger.later(minutes=1).ok("workspace", "grant", account, "docs", "--role", "editor")
    revoked = ledger.later(minutes=1).ok("workspace", "revoke", account, "docs")

    assert revoked == {"ok": True, "workspace": "docs"}
    changes = [
        e["details"]
        for e in ledger.ok("audit", account)
        if e["action"] == "workspace_membership_changed"
    ]
    assert changes == [
        {"workspace": "docs", "change": "revoked"},
        {"workspace": "docs", "role": "editor", "change": "granted"},
        {"workspace": "docs", "role": "viewer", "change": "granted"},
    ]


@pytest.mark.parametrize("history", [[], ["grant", "revoke"], ["grant-other"]])
def test_revoking_a_workspace_the_user_is_not_in_is_refused(
    ledger: Ledger, account: str, history: list[str]
) -> None:
    for step in history:
        if step == "grant":
            ledger.ok("workspace", "grant", account, "docs", "--role", "member")
        elif step == "revoke":
            ledger.ok("workspace", "revoke", account, "docs")
        else:
            ledger.ok("workspace", "grant", account, "design", "--role", "member")
    before = ledger.event_count()

    error = ledger.refused("workspace", "revoke", account, "docs", code="not_a_member")

    assert "docs" in error["error"]["message"]
    assert ledger.event_count() == before


# ---- admins and actors ------------------------------------------------------------------


def test_a_member_can_be_made_an_admin_once(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    added = ledger.ok("org", "admin", "add", "acme", "ADA@acme.test")

    assert added == {"ok": True, "slug": "acme", "admin": account}
    assert ledger.event_count() == before + 1
    ledger.ok("org", "admin", "add", "acme", account)
    assert ledger.event_count() == before + 1  # already an admin: nothing new to record


def test_a_user_of_another_organisation_cannot_be_made_an_admin(
    ledger: Ledger, account: str
) -> None:
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", "hank@globex.test", "--org", "globex")
    before = ledger.event_count()

    error = ledger.refused("org", "admin", "add", "acme", "hank@globex.test", code="not_in_org")

    assert "hank@globex.test" in error["error"]["message"]
    assert ledger.event_count() == before


ACTED_BY_A_GHOST = [
    ("user", "alerts", "ada@acme.test", "--security", "off"),
    ("workspace", "grant", "ada@acme.test", "docs", "--role", "member"),
    ("mfa", "totp", "enrol", "ada@acme.test"),
    ("org", "require-mfa", "acme", "on"),
    ("org", "sso", "acme", "--idp", "okta", *PROVIDER, "--mfa", "idp"),
    ("user", "create", "bob@acme.test", "--org", "acme"),
]


@pytest.mark.parametrize(
    "command", ACTED_BY_A_GHOST, ids=[" ".join(c[:2]) for c in ACTED_BY_A_GHOST]
)
def test_an_unknown_actor_is_refused_and_nothing_is_appended(
    ledger: Ledger, account: str, command: tuple[str, ...]
) -> None:
    before = ledger.event_count()

    error = ledger.refused(*command, "--actor", "ghost@acme.test", code="unknown_user")

    assert "ghost@acme.test" in error["error"]["message"]
    assert ledger.event_count() == before


def test_an_unknown_actor_cannot_change_a_password(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    result = set_password(ledger, account, "correct horse battery", "--actor", "ghost@acme.test")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "unknown_user"
    assert ledger.event_count() == before


def test_the_audit_log_names_the_admin_who_acted(ledger: Ledger, account: str, admin: str) -> None:
    ledger.ok("user", "alerts", account, "--security", "off", "--actor", admin, "--ip", "10.0.0.1")
    ledger.later(minutes=1).ok(
        "workspace", "grant", account, "docs", "--role", "viewer", "--actor", admin
    )
    changed = set_password(ledger.later(minutes=1), account, "a new password", "--actor", admin)
    assert changed.exit_code == 0, changed.output
    ledger.later(minutes=1).ok("user", "alerts", account, "--security", "on")

    log = ledger.ok("audit", account)

    assert [(e["action"], e["actor"], e["ip"]) for e in log] == [
        ("alert_settings_changed", account, None),
        ("password_changed", admin, None),
        ("workspace_membership_changed", admin, None),
        ("alert_settings_changed", admin, "10.0.0.1"),
        ("account_created", account, None),
    ]
    assert actions(ledger.ok("audit", admin)) == ["account_created"]  # the admin's own log


# ---- reading the audit log by day -----------------------------------------------------------


@pytest.fixture
def a_week(ledger: Ledger, account: str) -> str:
    """Ada's account, changed on several days (times are UTC):

    14th 09:00 account_created          16th 09:00 workspace granted
    15th 09:00 alerts off               16th 17:00 password_changed
    16th 00:00 alerts on (midnight)     18th 09:00 workspace revoked
    """
    ledger.later(days=1).ok("user", "alerts", account, "--security", "off")
    ledger.at(T0.replace(day=16, hour=0)).ok("user", "alerts", account, "--security", "on")
    ledger.later(hours=9).ok("workspace", "grant", account, "docs", "--role", "editor")
    assert set_password(ledger.later(hours=8), account, "correct horse battery").exit_code == 0
    ledger.at(T0 + timedelta(days=4)).ok("workspace", "revoke", account, "docs")
    return account


CREATED = ("2026-11-14T09:00:00Z", "account_created")
ALERTS_OFF = ("2026-11-15T09:00:00Z", "alert_settings_changed")
ALERTS_ON = ("2026-11-16T00:00:00Z", "alert_settings_changed")
GRANTED = ("2026-11-16T09:00:00Z", "workspace_membership_changed")
PASSWORD = ("2026-11-16T17:00:00Z", "password_changed")
REVOKED = ("2026-11-18T09:00:00Z", "workspace_membership_changed")


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param([], [REVOKED, PASSWORD, GRANTED, ALERTS_ON, ALERTS_OFF, CREATED], id="all"),
        pytest.param(["--from", "2026-11-16"], [REVOKED, PASSWORD, GRANTED, ALERTS_ON], id="from"),
        pytest.param(["--to", "2026-11-15"], [ALERTS_OFF, CREATED], id="to-excludes-midnight"),
        pytest.param(
            ["--from", "2026-11-16", "--to", "2026-11-16"],
            [PASSWORD, GRANTED, ALERTS_ON],
            id="one-day",
        ),
        pytest.param(
            ["--from", "2026-11-15", "--to", "2026-11-17"],
            [PASSWORD, GRANTED, ALERTS_ON, ALERTS_OFF],
            id="three-days",
        ),
        pytest.param(["--from", "2026-11-17", "--to", "2026-11-17"], [], id="a-quiet-day"),
        pytest.param(
            ["--from", "2026-11-16T12:00:00Z", "--to", "2026-11-16T17:00:00Z"],
            [PASSWORD],
            id="instants-inclusive",
        ),
    ],
)
def test_the_audit_log_by_day_newest_first(
    ledger: Ledger, a_week: str, window: list[str], expected: list[tuple[str, str]]
) -> None:
    entries = ledger.ok("audit", a_week, *window)

    assert [(e["timestamp"], e["action"]) for e in entries] == expected
