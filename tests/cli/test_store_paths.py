"""Where the ledger is: a mistyped address never becomes a new, empty ledger.

A command that only reads refuses an address where there is no ledger (`store_not_found`,
naming the path it resolved), and creates nothing there: no file, no directory, no key, no
table. An empty or ambiguous address is bad input. `verify --store` never calls an empty ledger
intact. `init` and `info` say where the keys are, and every PostgreSQL store keeps its keys in
a directory of its own, named by its identity.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import stat
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


def test_a_relative_path_that_says_so_is_taken_and_shown_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    created = json.loads(run("sqlite:///./ledger.sqlite3", "init", "--json").stdout)

    assert created["location"] == str(tmp_path / "ledger.sqlite3")
    assert (tmp_path / "ledger.sqlite3").is_file()


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


# ---- init, info and the keys ---------------------------------------------------------------------


def test_init_creates_the_store_and_its_keys_and_says_where(
    nowhere: str, tmp_path: Path, backend: str
) -> None:
    created = json.loads(run(nowhere, "init", "--json").stdout)

    keys = created["keys"]
    assert created["ok"] is True
    assert (created["store"], created["location"], created["events"]) == (
        backend,
        StoreLocation.parse(nowhere).where,
        0,
    )
    for name in ("master_key_file", "signing_key_file"):
        assert stat.S_IMODE(Path(keys[name]).stat().st_mode) == 0o600, name
    if backend == "postgresql":
        own = tmp_path / "data" / "flero-ledger" / "stores" / created["store_id"]
        assert (keys["master_key_file"], keys["signing_key_file"]) == (
            str(own / "master.key"),
            str(own / "signing.key"),
        )
    else:
        assert keys["master_key_file"] == f"{created['location']}.master-key"
    assert keys["anchor_file"].endswith(f"flero-ledger-anchor-{created['store_id']}.json")
    # Idempotent, and `info` says the same.
    assert json.loads(run(nowhere, "init", "--json").stdout) == created
    info = json.loads(run(nowhere, "info", "--json").stdout)
    assert (info["store_id"], info["keys"]) == (created["store_id"], keys)
    told = run(nowhere, "info").stdout
    for path in keys.values():
        assert path in told
    assert "Ledger ready." in run(nowhere, "init").stdout


def test_info_names_keys_kept_in_the_environment_as_such(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.ok("init")
    monkeypatch.setenv("FLERO_LEDGER_SIGNING_KEY", base64.b64encode(bytes(32)).decode())

    keys = ledger.ok("info")["keys"]

    assert keys["signing_key_file"] is None and keys["master_key_file"] is not None
    assert "Signing key: from FLERO_LEDGER_SIGNING_KEY" in ledger.run("info").stdout


# ---- PostgreSQL stores: keys of their own, and the shared files of before ------------------------


def pg_ledger(pg_server: PgServer) -> Ledger:
    ledger = Ledger(pg_server.url(fresh_pg_database(pg_server)))
    ledger.ok("init")
    return ledger


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in ("FLERO_LEDGER_DB", "FLERO_LEDGER_MASTER_KEY", "FLERO_LEDGER_NOW"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data" / "flero-ledger"


def test_each_postgresql_store_keeps_its_keys_in_a_directory_named_by_its_identity(
    pg_server: PgServer, data_dir: Path
) -> None:
    first, second = pg_ledger(pg_server), pg_ledger(pg_server)

    one, other = first.ok("info"), second.ok("info")

    assert one["store_id"] != other["store_id"]
    for info in (one, other):
        assert (
            Path(info["keys"]["master_key_file"]).parent == data_dir / "stores" / info["store_id"]
        )
    assert one["signing_public_key"] != other["signing_public_key"]
    masters = {Path(i["keys"]["master_key_file"]).read_bytes() for i in (one, other)}
    assert len(masters) == 2
    assert not (data_dir / "master.key").exists() and not (data_dir / "signing.key").exists()


def put_back_in_the_shared_place(info: dict[str, Any], data_dir: Path) -> dict[str, Path]:
    """The layout of before: the keys in one pair of files for every database, the anchor
    beside them."""
    keys = info["keys"]
    shared = {
        "master_key_file": data_dir / "master.key",
        "signing_key_file": data_dir / "signing.key",
        "anchor_file": data_dir / Path(keys["anchor_file"]).name,
    }
    for name, place in shared.items():
        os.rename(keys[name], place)
    os.rmdir(Path(keys["master_key_file"]).parent)
    return shared


def test_a_postgresql_store_keyed_in_the_shared_files_of_before_takes_its_keys_and_works_on(
    pg_server: PgServer, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = pg_ledger(pg_server)
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    ledger.later(minutes=1).ok("checkpoint")
    info = ledger.ok("info")
    shared = put_back_in_the_shared_place(info, data_dir)
    kept = {name: place.read_bytes() for name, place in shared.items()}

    with caplog.at_level(logging.WARNING, logger="ledger.store_keys"):
        assert ledger.ok("mfa", "status", ADA)["totp"]["enabled"] is False
        assert ledger.ok("verify", "--store")["ok"] is True

    for name in shared:
        assert Path(info["keys"][name]).read_bytes() == kept[name], name
    # The keys stay where they were, for other databases; the anchor was this store's alone.
    assert shared["master_key_file"].exists() and shared["signing_key_file"].exists()
    assert not shared["anchor_file"].exists()
    told = caplog.text
    assert f"copied to the store's own {info['keys']['master_key_file']}" in told
    assert f"copied to the store's own {info['keys']['signing_key_file']}" in told
    assert ledger.ok("info")["signing_public_key"] == info["signing_public_key"]
    # A new store is never given the shared key: it gets keys of its own.
    newcomer = pg_ledger(pg_server).ok("info")
    assert Path(newcomer["keys"]["master_key_file"]).read_bytes() != kept["master_key_file"]
    assert newcomer["signing_public_key"] != info["signing_public_key"]


def test_a_store_holding_data_with_no_key_of_its_own_is_refused_never_given_a_new_one(
    pg_server: PgServer, data_dir: Path
) -> None:
    ledger = pg_ledger(pg_server)
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    ledger.later(minutes=1).ok("checkpoint")
    keys = ledger.ok("info")["keys"]
    master, signing = Path(keys["master_key_file"]), Path(keys["signing_key_file"])
    lost = master.read_bytes()
    master.unlink()

    refused = ledger.refused("mfa", "status", ADA, code="key_unavailable")

    message = refused["error"]["message"]
    assert message.startswith(f"{master} is missing (and so is {data_dir / 'master.key'}")
    assert "already holds data keys" in message
    assert not master.exists()
    # Another key in the shared place is not this store's: refused, and not copied.
    (data_dir / "master.key").write_text(base64.b64encode(os.urandom(32)).decode())
    (data_dir / "master.key").chmod(0o600)
    wrong = ledger.refused("mfa", "status", ADA, code="key_unavailable")
    assert "does not open this store's data keys" in wrong["error"]["message"]
    assert not master.exists()
    # Its signing key, likewise: a shared key that did not sign its checkpoints is refused.
    master.write_bytes(lost)
    master.chmod(0o600)
    signing.rename(data_dir / "signed-nothing.key")
    shutil.copy(data_dir / "master.key", data_dir / "signing.key")
    not_its_own = ledger.refused("verify", "--store", code="key_unavailable")
    assert "did not sign this store's checkpoints" in not_its_own["error"]["message"]
    assert not signing.exists()
    (data_dir / "signed-nothing.key").rename(signing)
    assert ledger.ok("verify", "--store")["ok"] is True
