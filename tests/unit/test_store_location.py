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
