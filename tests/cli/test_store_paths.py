"""Where the ledger is: a mistyped address never becomes a new, empty ledger.

A command that only reads refuses an address where there is no ledger (`store_not_found`,
naming the path it resolved), and creates nothing there: no file, no directory, no key, no
table. An empty or ambiguous address is bad input. `verify --store` never calls an empty ledger
intact.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli import READS_ONLY, main
from devtools.postgres_cluster import PgServer
from ledger.store_location import StoreLocation
from tests.conftest import Ledger, fresh_pg_database

ADA = "ada@acme.test"
NOT_A_TOKEN = "a-token-that-opens-nothing\n"

# Every command that only reads, and the rest of its command line as someone would type it.
READING: dict[str, tuple[str, ...]] = {
    "info": (),
    "verify": ("--store",),
    "history": (ADA,),
    "sessions list": (ADA,),
    "sessions check": ("--token-stdin",),
    "audit": (ADA,),
    "alerts": (ADA,),
    "mfa status": (ADA,),
    "timeline": (ADA, "--on", "2026-11-14"),
    "state": (ADA, "--as-of", "2026-11-14T09:00:00Z"),
    "export": ("--all", "--format", "jsonl", "--out", "OUT"),
    "org compliance": ("acme",),
    "api-keys list": (ADA,),
    "sms outbox": (),
    "projections status": (),
    "projections rebuild": (),
    "projections run": (),
    "checkpoint": (),
    "serve": ("--port", "1"),
}


@pytest.fixture
def nowhere(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """An address with no ledger behind it: a file never created, or a database without the
    ledger's tables."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in ("FLERO_LEDGER_DB", "FLERO_LEDGER_MASTER_KEY", "FLERO_LEDGER_NOW"):
        monkeypatch.delenv(name, raising=False)
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.url(fresh_pg_database(server))


def run(url: str, *args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, ["--db", url, *args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def error_of(result: Result, exit_code: int = 1) -> dict[str, Any]:
    assert result.exit_code == exit_code, result.output + result.stderr
    error: dict[str, Any] = json.loads(result.stdout)["error"]
    return error


def tables_in(url: str, request: pytest.FixtureRequest) -> list[str]:
    server: PgServer = request.getfixturevalue("pg_server")
    with server.connect(StoreLocation.parse(url).pg_dbname) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return [row[0] for row in rows]


def assert_nothing_created(url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    assert list(tmp_path.iterdir()) == [], "no store file, key, anchor or data directory"
    if StoreLocation.parse(url).kind == "postgresql":
        assert tables_in(url, request) == []


# ---- commands that only read -----------------------------------------------------------------


@pytest.mark.parametrize("command", READING)
def test_a_command_that_only_reads_never_creates_a_store(
    nowhere: str, command: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rest = [str(tmp_path / "export.jsonl") if word == "OUT" else word for word in READING[command]]
    argv = [*command.split(), *rest]

    in_json = [] if command == "serve" else ["--json"]  # serve prints no JSON

    result = run(nowhere, *argv, *in_json, stdin=NOT_A_TOKEN)

    assert result.exit_code == 1, result.output + result.stderr
    where = StoreLocation.parse(nowhere).where
    assert where in result.stderr
    assert "flero-ledger init" in result.stderr
    if in_json:
        assert error_of(result)["code"] == "store_not_found"
    assert_nothing_created(nowhere, tmp_path, request)


def test_every_command_that_only_reads_is_marked_so_and_no_other() -> None:
    """The mark is what keeps a read from creating a store: a new command is classified here."""

    def leaves(group: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                found |= leaves(command, (*path, name))
            else:
                found[" ".join((*path, name))] = command
        return found

    marked = {name for name, c in leaves(main).items() if getattr(c.callback, READS_ONLY, False)}

    assert marked == set(READING)


def test_a_command_that_records_still_creates_an_sqlite_store_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = f"sqlite:///{tmp_path / 'new' / 'ledger.sqlite3'}"

    assert run(url, "org", "create", "acme", "--json").exit_code == 0

    assert (tmp_path / "new" / "ledger.sqlite3").is_file()
    assert json.loads(run(url, "info", "--json").stdout)["events"] == 1


def test_a_file_that_holds_no_ledger_is_refused_and_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    other = tmp_path / "notes.sqlite3"  # an SQLite database of something else
    with contextlib.closing(sqlite3.connect(other)) as notes:
        notes.execute("CREATE TABLE notes (body TEXT)")
    before = other.read_bytes()

    for path in (empty, other):
        said = error_of(run(f"sqlite:///{path}", "history", ADA, "--json"))
        assert said["code"] == "store_not_found"
        assert said["message"].startswith(f"{path} is no ledger (it holds no ledger tables)")
    assert empty.read_bytes() == b""
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3", "notes.sqlite3"]


def test_a_postgresql_database_that_does_not_exist_is_store_not_found(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = pg_server.url("flero_no_such_database")

    for args in (("verify", "--store"), ("org", "create", "acme")):
        error = error_of(run(url, *args, "--json"))
        assert error["code"] == "store_not_found", args
        assert f"{StoreLocation.parse(url).where} does not exist" in error["message"]
        assert "createdb flero_no_such_database" in error["message"]
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_database_gets_the_ledger_only_from_init(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = pg_server.url(fresh_pg_database(pg_server))

    refused = error_of(run(url, "org", "create", "acme", "--json"))

    assert refused["code"] == "store_not_initialised"
    assert "flero-ledger init" in refused["message"]
    assert run(url, "init", "--json").exit_code == 0
    assert run(url, "org", "create", "acme", "--json").exit_code == 0


# ---- addresses that are bad input --------------------------------------------------------------


@pytest.mark.parametrize("args", [("info",), ("org", "create", "acme"), ("verify", "x.jsonl")])
def test_an_empty_store_address_is_bad_input_never_the_default_store(
    args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `--db "$LEDGER"` passes when LEDGER is unset: never the default store."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    given = CliRunner().invoke(main, ["--db", "", *args])
    monkeypatch.setenv("FLERO_LEDGER_DB", "")
    from_environment = CliRunner().invoke(main, [*args])

    assert given.exit_code == 2, given.output
    assert "the store address is empty" in given.stderr
    assert str(tmp_path / "data" / "flero-ledger" / "ledger.sqlite3") in given.stderr
    assert from_environment.exit_code == 2, from_environment.output
    assert "FLERO_LEDGER_DB: set but empty" in from_environment.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("verify", "--store"), ("org", "create", "acme")])
def test_three_slashes_before_a_path_that_looks_absolute_is_bad_input(
    args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["--db", "sqlite:///var/lib/flero/l.sqlite3", *args])

    assert result.exit_code == 2, result.output
    assert f"({tmp_path}/var/lib/flero/l.sqlite3)" in result.stderr
    assert "sqlite:////var/lib/flero/l.sqlite3" in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---- verifying an empty ledger -----------------------------------------------------------------


def test_verify_store_on_an_empty_ledger_says_so_and_never_calls_it_intact(
    ledger: Ledger,
) -> None:
    where = StoreLocation.parse(ledger.url).where

    refused = ledger.refused("verify", "--store", code="empty_ledger")

    assert refused["error"]["message"].startswith(f"the ledger at {where} holds no events")
    human = ledger.run("verify", "--store")
    assert human.exit_code == 1
    assert "holds no events" in human.stderr and "Intact" not in human.stdout
    ledger.ok("org", "create", "acme")
    assert ledger.ok("verify", "--store") == {"ok": True, "events": 1, "checkpoints": 0}
