"""--db, --now and --json wherever a user types them: before the command's name or after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from cli import main
from tests.conftest import Ledger


def invoke(ledger: Ledger, *args: str) -> Result:
    """The command line exactly as given: no --db or --now put in front of it."""
    result = ledger.runner.invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def elsewhere(tmp_path: Path) -> str:
    """A second store; FLERO_LEDGER_DB names the test's own."""
    return f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"


def test_db_after_the_command_is_the_store_used(
    ledger: Ledger, account: str, elsewhere: str
) -> None:
    ledger.runner.invoke(main, ["--db", elsewhere, "init"])

    after = invoke(ledger, "info", "--db", elsewhere, "--json")
    before = invoke(ledger, "--db", elsewhere, "info", "--json")

    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout)["location"].endswith("elsewhere.sqlite3")
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(invoke(ledger, "info", "--json").stdout)["events"] > 0  # the other one


def test_json_before_the_command_answers_in_json(ledger: Ledger, account: str) -> None:
    before = invoke(ledger, "--json", "info")
    after = invoke(ledger, "info", "--json")

    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["events"] == json.loads(after.stdout)["events"]


def test_json_before_a_nested_command_and_its_refusal(ledger: Ledger, account: str) -> None:
    status = invoke(ledger, "--json", "mfa", "status", account)
    refused = invoke(ledger, "--json", "sessions", "list", "nobody@acme.test")

    assert json.loads(status.stdout)["totp"]["enabled"] is False
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"]["code"] == "unknown_user"


def test_now_after_the_command_is_the_clock_used(ledger: Ledger, account: str) -> None:
    done = invoke(
        ledger, "user", "alerts", account, "--security", "off", "--now", "2026-12-01T10:00:00Z"
    )

    assert done.exit_code == 0, done.output
    assert ledger.ok("audit", account)[0]["timestamp"] == "2026-12-01T10:00:00Z"


def test_a_bad_db_after_the_command_is_still_bad_input(ledger: Ledger, account: str) -> None:
    result = invoke(ledger, "--json", "info", "--db", "mysql://nowhere/x")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    assert "sqlite:///PATH" in result.stderr


def test_the_text_json_as_an_options_value_does_not_ask_for_json(
    ledger: Ledger, account: str
) -> None:
    result = ledger.run("audit", account, "--from", "--json")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'--json' is not an ISO 8601 timestamp" in result.stderr


def test_with_a_replica_a_command_that_records_answers_its_position_in_the_log(
    ledger: Ledger, account: str
) -> None:
    if ledger.url.startswith("sqlite"):
        pytest.skip("replicas are PostgreSQL's")
    replica = ["--read-db", ledger.url]  # the primary itself stands in: it is always current
    answered = ledger.ok(*replica, "mfa", "totp", "enrol", account)
    assert answered["position"] == ledger.ok("info")["events"]
    assert "position" not in ledger.ok("mfa", "totp", "enrol", account)  # no replica: none
    after = ["--after", str(answered["position"])]
    assert "position" not in ledger.ok(*replica, *after, "mfa", "status", account)


def test_a_replica_is_only_ever_one_of_a_postgresql_store(ledger: Ledger, account: str) -> None:
    if ledger.url.startswith("sqlite"):
        result = invoke(ledger, "--json", "--read-db", "postgresql://flero@db2/ledger", "info")
        assert "a replica is a PostgreSQL standby of a PostgreSQL store" in result.stderr
    else:
        result = invoke(ledger, "--json", "info", "--read-db", "mysql://nowhere/x")
        assert "sqlite:///PATH" in result.stderr
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
