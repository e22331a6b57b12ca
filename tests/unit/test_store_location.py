"""Parsing `--db`: the embedded file by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.store_location import StoreLocation


def test_the_default_is_an_sqlite_file_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    location = StoreLocation.parse(None)
    assert location.kind == "sqlite"
    assert location.sqlite_path == tmp_path / "flero-ledger" / "ledger.sqlite3"


def test_sqlite_urls_take_the_path_after_three_slashes() -> None:
    assert StoreLocation.parse("sqlite:////var/lib/ledger.db").sqlite_path == Path(
        "/var/lib/ledger.db"
    )
    assert StoreLocation.parse("sqlite:///./ledger.db").sqlite_path == Path("ledger.db")
    assert StoreLocation.parse("sqlite:///../ledger.db").sqlite_path == Path("../ledger.db")
    assert StoreLocation.parse("sqlite:///~/ledger.db").sqlite_path == Path.home() / "ledger.db"


def test_a_relative_path_that_looks_absolute_is_refused_naming_both_spellings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Three slashes then `var/...` is `./var/...`: never where the writer meant."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as refused:
        StoreLocation.parse("sqlite:///var/lib/flero/l.sqlite3")
    message = str(refused.value)
    assert f"({tmp_path}/var/lib/flero/l.sqlite3)" in message
    assert "sqlite:////var/lib/flero/l.sqlite3" in message
    assert "sqlite:///./var/lib/flero/l.sqlite3" in message
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("url", ["", " "])
def test_an_empty_address_is_refused_never_taken_for_the_default(url: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        StoreLocation.parse(url)


def test_where_names_an_sqlite_store_by_its_absolute_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    location = StoreLocation.parse("sqlite:///./ledger.db")
    assert location.where == str(tmp_path / "ledger.db")
    assert location.description == "ledger.db"  # as given: it names the pre-identity anchor


def test_postgresql_urls_with_host_or_socket_directory() -> None:
    tcp = StoreLocation.parse("postgresql://bob:pw@db.internal:6543/ledger")
    assert (tcp.pg_user, tcp.pg_password, tcp.pg_host, tcp.pg_port, tcp.pg_dbname) == (
        "bob",
        "pw",
        "db.internal",
        "6543",
        "ledger",
    )
    socket = StoreLocation.parse("postgresql:///ledger?host=/run/postgresql")
    assert (socket.pg_host, socket.pg_dbname) == ("/run/postgresql", "ledger")
    assert socket.eventsourcing_env()["CREATE_TABLE"] == "no"


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "sqlite:///", "postgresql://host:5432/", "ledger.db"]
)
def test_other_addresses_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite|postgresql"):
        StoreLocation.parse(url)


CLUSTER = "postgresql://bob:pw@10.0.0.1:5433,10.0.0.2:5434,[::1]/ledger"


def test_a_multi_host_url_keeps_every_host_and_its_port_for_libpq() -> None:
    """A Patroni cluster: libpq tries the hosts in turn and keeps the one that is writable."""
    cluster = StoreLocation.parse(f"{CLUSTER}?target_session_attrs=read-write")
    assert (cluster.pg_host, cluster.pg_port) == ("10.0.0.1,10.0.0.2,::1", "5433,5434,5432")
    assert (cluster.pg_user, cluster.pg_password, cluster.pg_dbname) == ("bob", "pw", "ledger")
    assert cluster.pg_target_session_attrs == "read-write"
    assert cluster.pg_params() == {
        "dbname": "ledger",
        "host": "10.0.0.1,10.0.0.2,::1",
        "port": "5433,5434,5432",
        "user": "bob",
        "password": "pw",
        "target_session_attrs": "read-write",
    }
    env = cluster.eventsourcing_env()
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == (cluster.pg_host, cluster.pg_port)
    assert env["POSTGRES_TARGET_SESSION_ATTRS"] == "read-write"
    assert cluster.description == (
        "postgresql://bob@10.0.0.1:5433,10.0.0.2:5434,::1:5432/ledger"
        "?target_session_attrs=read-write"
    )


def test_a_single_host_url_is_described_and_connected_to_as_before() -> None:
    single = StoreLocation.parse("postgresql://bob@db.internal/ledger")
    assert single.description == "postgresql://bob@db.internal:5432/ledger"  # names old anchors
    assert "target_session_attrs" not in single.pg_params()
    assert "password" not in single.pg_params()


def test_the_library_store_connects_with_target_session_attrs() -> None:
    """The eventsourcing datastore takes no target_session_attrs; our factory adds it."""
    from eventsourcing.persistence import InfrastructureFactory

    url = "postgresql://bob:pw@127.0.0.1:1,127.0.0.1:2/ledger?target_session_attrs=read-write"
    factory = InfrastructureFactory.construct(StoreLocation.parse(url).eventsourcing_env())
    kwargs = factory.datastore.pool.kwargs  # type: ignore[attr-defined]
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1,127.0.0.1", "1,2")
    assert kwargs["target_session_attrs"] == "read-write"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://bob@h1:5432,,h2:5432/ledger", "empty host"),
        ("postgresql://bob@h1:5432,:5433/ledger", "empty host"),
        ("postgresql://bob@h1:5432,h2:port/ledger", "not a port number"),
        ("postgresql://bob@h1:70000/ledger", "not a port number"),
        ("postgresql://bob@[::1/ledger", "IPv6"),
        ("postgresql://bob@h1,h2/ledger?port=1,2,3", "2 hosts but 3 ports"),
        ("postgresql://bob@h1,h2/ledger?target_session_attrs=primary-ish", "target_session_attrs"),
    ],
)
def test_a_malformed_multi_host_url_is_refused_saying_what_is_wrong(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        StoreLocation.parse(url)


def test_the_cli_refuses_a_malformed_multi_host_url_as_misuse_without_showing_the_password() -> (
    None
):
    from click.testing import CliRunner

    from cli import main

    result = CliRunner().invoke(main, ["--db", "postgresql://bob:s3cret@h1,,h2/ledger", "init"])
    assert result.exit_code == 2, result.output
    assert "empty host" in result.output
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    "url", [f"{CLUSTER}?target_session_attrs=read-write", "sqlite:////var/lib/ledger.sqlite3"]
)
def test_a_location_reaches_another_process_whole(url: str) -> None:
    """verify's snapshot audit opens the same store in a process of its own."""
    location = StoreLocation.parse(url)
    assert StoreLocation.from_json(location.to_json()) == location
