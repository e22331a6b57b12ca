"""Who is knocking: coarse location from the IP, browser and device from the User-Agent."""

from __future__ import annotations

from ledger.geolocation import locate
from ledger.sign_in import Client
from ledger.user_agents import describe


def describe_client(ip: str | None, user_agent: str | None, peer_ip: str | None = None) -> Client:
    location = locate(ip) if ip else None
    device = describe(user_agent)
    return Client(
        ip=ip,
        peer_ip=peer_ip if peer_ip != ip else None,
        location=location.label if location else None,
        country_code=location.country_code if location else None,
        browser=device.browser,
        os=device.os,
        device=device.device,
    )
