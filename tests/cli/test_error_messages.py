"""Errors a new user meets: each is the right kind (exit 1 refused, exit 2 bad input) with the
contract's code, and each says how to put it right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Ledger

SSO = ("org", "sso", "acme", "--idp", "okta", "--issuer", "https://idp.acme.test")
SSO_REST = ("--client-id", "flero-ledger", "--mfa", "idp")


def error_of(ledger: Ledger, *args: str, exit_code: int) -> dict[str, str]:
    result = ledger.run(*args, "--json")
    assert result.exit_code == exit_code, result.output
    error = json.loads(result.stdout)["error"]
    assert result.stderr == f"Error: {error['message']}\n"
    return dict(error)


# ---- reversed ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until"),
    [("2026-11-30", "2026-11-01"), ("2026-11-14T10:00:00Z", "2026-11-14T09:00:00Z")],
)
def test_an_audit_range_that_ends_before_it_starts_is_bad_input(
    ledger: Ledger, account: str, since: str, until: str
) -> None:
    error = error_of(ledger, "audit", account, "--from", since, "--to", until, exit_code=2)

    assert error["code"] == "invalid_input"
    assert "give the earlier one as --from" in error["message"]


def test_one_day_or_one_instant_as_both_ends_is_a_range(ledger: Ledger, account: str) -> None:
    assert ledger.ok("audit", account, "--from", "2026-11-14", "--to", "2026-11-14")
    instant = "2026-11-14T09:00:00Z"
    assert ledger.ok("audit", account, "--from", instant, "--to", instant)


def test_an_export_range_that_ends_before_it_starts_is_bad_input_and_writes_nothing(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    out = tmp_path / "acme.jsonl"
    args = ("export", "--all", "--format", "jsonl", "--out", str(out))

    error = error_of(ledger, *args, "--from", "2026-11-30", "--to", "2026-11-01", exit_code=2)

    assert error["code"] == "invalid_input"
    assert not out.exists()


# ---- files that are not there -------------------------------------------------------------------


def test_a_jwks_file_that_is_not_there_is_not_found_and_records_nothing(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    before = ledger.event_count()
    missing = tmp_path / "okta-keys.json"

    error = error_of(ledger, *SSO, *SSO_REST, "--jwks-file", str(missing), exit_code=2)

    assert error["code"] == "not_found"
    assert str(missing) in error["message"]
    assert ledger.event_count() == before


def test_an_export_to_verify_that_is_not_there_is_not_found(ledger: Ledger, tmp_path: Path) -> None:
    error = error_of(ledger, "verify", str(tmp_path / "missing.jsonl"), exit_code=2)

    assert error["code"] == "not_found"
    assert "flero-ledger export" in error["message"]


# ---- every message says how to put it right ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "help_of"),
    [
        (("mfa", "sms", "enrol", "ada@acme.test"), "flero-ledger mfa sms enrol --help"),
        (("sessions", "list"), "flero-ledger sessions list --help"),
        (("info", "--bogus"), "flero-ledger info --help"),
        (("no-such-command",), "flero-ledger --help"),
    ],
)
def test_misuse_points_to_the_commands_help(
    ledger: Ledger, account: str, args: tuple[str, ...], help_of: str
) -> None:
    error = error_of(ledger, *args, exit_code=2)

    assert error["code"] == "invalid_input"
    assert f"See `{help_of}`" in error["message"]


ADA = "ada@acme.test"
REFUSALS = {
    "unknown_session": (("sessions", "revoke", ADA, "0123456789abcdef"), "sessions list"),
    "unknown_api_key": (("api-keys", "revoke", ADA, "0123456789ab"), "api-keys list"),
    "unknown_user": (("mfa", "status", "nobody@acme.test"), "user create"),
    "unknown_org": (("user", "create", "bob@acme.test", "--org", "globex"), "org create"),
    "factor_not_enabled": (("mfa", "disable", ADA, "sms"), "mfa status"),
    "admin_required": (("erase", ADA, "--actor", ADA), "org admin add"),
    "not_yet_created": (("state", ADA, "--as-of", "2026-01-01T00:00:00Z"), "later --as-of"),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_a_refusal_says_how_to_put_it_right(ledger: Ledger, account: str, code: str) -> None:
    args, remedy = REFUSALS[code]

    error = error_of(ledger, *args, exit_code=1)

    assert error["code"] == code
    assert remedy in error["message"]


def test_a_clock_behind_the_ledger_says_to_give_a_later_now(ledger: Ledger, account: str) -> None:
    ledger.later(days=1).ok("user", "alerts", account, "--security", "off")

    error = error_of(
        ledger.later(days=-2), "user", "alerts", account, "--security", "on", exit_code=1
    )

    assert error["code"] == "clock_behind"
    assert "give a later --now" in error["message"]
