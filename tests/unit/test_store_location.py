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
    assert StoreLocation.parse("sqlite:///ledger.db").sqlite_path == Path("ledger.db")


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
