"""schema.sql is the whole PostgreSQL schema: the ledger runs on it alone, and it is append-only.

These tests use PostgreSQL only. Each builds its own database: from schema.sql, from the
eventsourcing library's own table creation (for comparison), or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest

from ledger.application import SecurityLedger
from ledger.store import SCHEMA_SQL, LedgerStore, initialise_schema
from ledger.store_location import StoreLocation
from projections.catalogue import runner_for
from tests.conftest import Ledger, PgServer, fresh_pg_database

EMAIL = "ada@acme.test"
LIBRARY_TABLES = ("ledger_events", "ledger_snapshots", "ledger_tracking")


# ---- helpers -----------------------------------------------------------------------------


def tables_schema_sql_creates() -> set[str]:
    return set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA_SQL.read_text()))


def tables_in(server: PgServer, dbname: str) -> set[str]:
    with server.connect(dbname) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {row[0] for row in rows}


def describe_table(server: PgServer, dbname: str, table: str) -> dict[str, Any]:
    """What a DBA would compare: columns and types, indexes, storage options."""
    with server.connect(dbname) as conn:
        columns = conn.execute(
            "SELECT column_name, ordinal_position, data_type, is_nullable, column_default "
            "FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s "
            "ORDER BY ordinal_position",
            (table,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = %s ORDER BY indexname",
            (table,),
        ).fetchall()
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", (table,)
        ).fetchone()
    return {
        "columns": columns,
        "indexes": indexes,
        "options": sorted(options[0] or []) if options else None,
    }


def describe_database(server: PgServer, dbname: str) -> dict[str, Any]:
    """Every table, plus the triggers and functions schema.sql installs."""
    with server.connect(dbname) as conn:
        triggers = conn.execute(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE NOT tgisinternal ORDER BY tgname"
        ).fetchall()
        functions = conn.execute(
            "SELECT proname, pg_get_functiondef(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() ORDER BY proname"
        ).fetchall()
    tables = sorted(tables_in(server, dbname))
    return {
        "tables": {table: describe_table(server, dbname, table) for table in tables},
        "triggers": triggers,
        "functions": functions,
    }


def event_rows(server: PgServer, dbname: str) -> list[tuple[Any, ...]]:
    with server.connect(dbname) as conn:
        return conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM ledger_events ORDER BY notification_id"
        ).fetchall()


def enrol_totp(ledger: Ledger, email: str) -> dict[str, Any]:
    secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
    ledger.later(seconds=20)
    confirmed = ledger.ok("mfa", "totp", "confirm", email, pyotp.TOTP(secret).at(ledger.now))
    return {"secret": secret, **confirmed}


def tell_the_story(ledger: Ledger) -> None:
    """An organisation, a user who turns on an authenticator app, and her audit log."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", EMAIL, "--org", "acme")
    confirmed = enrol_totp(ledger, EMAIL)
    assert confirmed["enabled"] is True
    assert len(confirmed["recovery_codes"]) == 10

    assert ledger.ok("mfa", "status", EMAIL)["totp"] == {
        "enabled": True,
        "enrolled_at": "2026-11-14T09:00:20Z",
    }
    actions = [entry["action"] for entry in ledger.ok("audit", EMAIL)]
    assert actions == ["recovery_codes_generated", "mfa_enabled", "account_created"]


# ---- fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_master_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The master key lives in the test's own directory; nothing comes from the environment."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in (
        "FLERO_LEDGER_MASTER_KEY",
        "FLERO_LEDGER_KEY_FILE",
        "FLERO_LEDGER_DB",
        "FLERO_LEDGER_NOW",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def schema_only_db(pg_server: PgServer) -> str:
    """A fresh database whose only schema is what schema.sql created."""
    dbname = fresh_pg_database(pg_server)
    initialise_schema(StoreLocation.parse(pg_server.url(dbname)))
    return dbname


@pytest.fixture
def library_db(pg_server: PgServer) -> Iterator[str]:
    """A fresh database whose tables the eventsourcing library created itself."""
    dbname = fresh_pg_database(pg_server)
    env = {**StoreLocation.parse(pg_server.url(dbname)).eventsourcing_env(), "CREATE_TABLE": "yes"}
    app = SecurityLedger(env=env, snapshot_key=bytes(32))
    try:
        app.factory.tracking_recorder()
        yield dbname
    finally:
        app.close()


# ---- the ledger runs on schema.sql alone -------------------------------------------------


def test_the_ledger_runs_on_a_database_created_only_from_schema_sql(
    pg_server: PgServer, schema_only_db: str
) -> None:
    url = pg_server.url(schema_only_db)
    store = LedgerStore(StoreLocation.parse(url))
    try:
        assert store.app.factory.env_create_table() is False  # the library creates nothing
        ledger = Ledger(url)

        tell_the_story(ledger)

        assert store.event_count() == ledger.event_count() > 0
    finally:
        store.close()
    assert tables_in(pg_server, schema_only_db) == tables_schema_sql_creates()


def test_after_a_rebuild_the_read_model_tables_are_still_as_schema_sql_makes_them(
    pg_server: PgServer, schema_only_db: str
) -> None:
    url = pg_server.url(schema_only_db)
    tell_the_story(Ledger(url))
    with pg_server.connect(schema_only_db) as conn:
        conn.execute("GRANT SELECT ON rm_audit_log TO PUBLIC")  # as a DBA might, for reporting
    before = describe_database(pg_server, schema_only_db)
    store = LedgerStore(StoreLocation.parse(url))
    try:
        runner_for(store).rebuild()
    finally:
        store.close()

    assert describe_database(pg_server, schema_only_db) == before
    fresh = fresh_pg_database(pg_server)
    initialise_schema(StoreLocation.parse(pg_server.url(fresh)))
    assert describe_database(pg_server, fresh) == before
    with pg_server.connect(schema_only_db) as conn:
        granted = conn.execute(
            "SELECT has_table_privilege('public', 'rm_audit_log', 'SELECT')"
        ).fetchone()
        leftover = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'flero_rebuild'"
        ).fetchone()
    assert granted == (True,)
    assert leftover == (0,)
    assert [entry["action"] for entry in Ledger(url).ok("audit", EMAIL)] == [
        "recovery_codes_generated",
        "mfa_enabled",
        "account_created",
    ]


def test_schema_sql_names_every_table_the_ledger_needs() -> None:
    assert tables_schema_sql_creates() >= {
        *LIBRARY_TABLES,
        "ledger_data_keys",
        "sms_outbox",
        "projection_tracking",
        "rm_accounts",
        "rm_organisations",
        "rm_mfa_state",
        "rm_audit_log",
    }


def test_the_ledger_runs_no_ddl_at_all_against_an_initialised_database(
    pg_server: PgServer, schema_only_db: str
) -> None:
    """Stronger than counting tables: any CREATE (even IF NOT EXISTS) would be refused."""
    with pg_server.connect(schema_only_db) as conn:
        if not conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]:
            pytest.skip("event triggers need a superuser")
        conn.execute(
            "CREATE FUNCTION refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'DDL while the ledger runs: %', tg_tag; END $$"
        )
        conn.execute(
            "CREATE EVENT TRIGGER refuse_ddl ON ddl_command_start EXECUTE FUNCTION refuse_ddl()"
        )
    url = pg_server.url(schema_only_db)
    # The trap works: re-applying the schema, all IF NOT EXISTS, is DDL and is caught.
    with pytest.raises(psycopg.errors.RaiseException, match="DDL while the ledger runs"):
        initialise_schema(StoreLocation.parse(url))

    tell_the_story(Ledger(url))


# ---- schema.sql matches what the library itself would create ------------------------------


@pytest.mark.parametrize("table", LIBRARY_TABLES)
def test_the_library_tables_in_schema_sql_have_the_librarys_own_columns_and_types(
    pg_server: PgServer, schema_only_db: str, library_db: str, table: str
) -> None:
    ours = describe_table(pg_server, schema_only_db, table)
    theirs = describe_table(pg_server, library_db, table)
    assert theirs["columns"], f"the library did not create {table}"
    assert ours["columns"] == theirs["columns"]


@pytest.mark.parametrize("table", LIBRARY_TABLES)
def test_the_library_tables_in_schema_sql_have_the_librarys_indexes_and_storage_options(
    pg_server: PgServer, schema_only_db: str, library_db: str, table: str
) -> None:
    ours = describe_table(pg_server, schema_only_db, table)
    theirs = describe_table(pg_server, library_db, table)
    assert ours["indexes"] == theirs["indexes"]
    assert ours["options"] == theirs["options"]


def test_the_library_row_type_in_schema_sql_matches_the_librarys(
    pg_server: PgServer, schema_only_db: str, library_db: str
) -> None:
    def row_type(dbname: str) -> list[tuple[Any, ...]]:
        with pg_server.connect(dbname) as conn:
            return conn.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = to_regclass('stored_event_uuid') AND attnum > 0 "
                "ORDER BY attnum"
            ).fetchall()

    assert row_type(library_db)
    assert row_type(schema_only_db) == row_type(library_db)


# ---- init is idempotent --------------------------------------------------------------------


def test_applying_schema_sql_twice_changes_nothing_and_keeps_the_data(
    pg_server: PgServer, schema_only_db: str
) -> None:
    url = pg_server.url(schema_only_db)
    tell_the_story(Ledger(url))
    schema_before = describe_database(pg_server, schema_only_db)
    events_before = event_rows(pg_server, schema_only_db)

    initialise_schema(StoreLocation.parse(url))

    assert describe_database(pg_server, schema_only_db) == schema_before
    assert event_rows(pg_server, schema_only_db) == events_before
    # The append-only triggers are still there, exactly once each.
    trigger_names = [name for name, _ in schema_before["triggers"]]
    assert trigger_names == [
        "ledger_chain_no_truncate",
        "ledger_chain_no_update_or_delete",
        "ledger_checkpoints_no_truncate",
        "ledger_checkpoints_no_update_or_delete",
        "ledger_events_no_truncate",
        "ledger_events_no_update_or_delete",
        "ledger_identity_no_truncate",
        "ledger_identity_no_update_or_delete",
        "ledger_snapshots_no_update",
    ]


def test_flero_ledger_init_can_be_run_again_and_again(pg_server: PgServer) -> None:
    dbname = fresh_pg_database(pg_server)
    ledger = Ledger(pg_server.url(dbname))
    first = ledger.ok("init")
    second = ledger.ok("init")
    assert first == second
    assert (first["ok"], first["store"], first["location"], first["events"]) == (
        True,
        "postgresql",
        StoreLocation.parse(ledger.url).description,
        0,
    )
    assert tables_in(pg_server, dbname) == tables_schema_sql_creates()
    tell_the_story(ledger)


# ---- append-only ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE ledger_events SET topic = 'x'",
        "UPDATE ledger_events SET state = NULL WHERE originator_version = 1",
        "DELETE FROM ledger_events",
        "DELETE FROM ledger_events WHERE notification_id = 1",
        "TRUNCATE ledger_events",
    ],
)
def test_recorded_events_can_be_neither_changed_nor_removed(
    pg_server: PgServer, schema_only_db: str, tampering: str
) -> None:
    ledger = Ledger(pg_server.url(schema_only_db))
    tell_the_story(ledger)
    before = event_rows(pg_server, schema_only_db)
    assert len(before) == ledger.event_count()

    with (
        pg_server.connect(schema_only_db) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="the ledger is append-only"),
    ):
        conn.execute(tampering)

    assert event_rows(pg_server, schema_only_db) == before
    # The ledger carries on as if nothing had happened.
    assert [e["action"] for e in ledger.ok("audit", EMAIL)][-1] == "account_created"


def test_appending_is_still_allowed(pg_server: PgServer, schema_only_db: str) -> None:
    ledger = Ledger(pg_server.url(schema_only_db))
    tell_the_story(ledger)
    before = ledger.event_count()
    ledger.later(minutes=1).ok("workspace", "grant", EMAIL, "design", "--role", "member")
    assert ledger.event_count() == before + 1


# ---- an un-initialised database ------------------------------------------------------------


def test_an_uninitialised_database_is_refused_with_a_hint_to_run_init(
    pg_server: PgServer,
) -> None:
    dbname = fresh_pg_database(pg_server)
    ledger = Ledger(pg_server.url(dbname))

    as_json = ledger.refused("org", "create", "acme", code="store_not_initialised")
    assert "run `flero-ledger init`" in as_json["error"]["message"]

    as_text = ledger.run("info")  # only reads: there is no ledger there
    assert as_text.exit_code == 1
    assert isinstance(as_text.exception, SystemExit)
    assert "holds no ledger" in as_text.stderr
    assert "create the ledger with `flero-ledger init`" in as_text.stderr
    assert "Traceback" not in as_text.output + as_text.stderr

    # Nothing was created behind the user's back...
    assert tables_in(pg_server, dbname) == set()
    # ...and after `init` the same command works.
    ledger.ok("init")
    assert ledger.ok("org", "create", "acme")["slug"] == "acme"
