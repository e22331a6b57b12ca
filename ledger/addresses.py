"""IP addresses as the ledger writes them out.

An IPv4 client that reached an IPv6 socket arrives as an IPv4-mapped address (`::ffff:808:404`);
it is the IPv4 client all the same, and is written as one (`8.8.4.4`), so that one client never
shows up under two addresses.
"""

from __future__ import annotations

import ipaddress


def plain_ip(ip: str) -> str:
    """`ip` in its compact form, an IPv4-mapped address as IPv4. Raises ValueError if `ip` is
    not an IP address."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
