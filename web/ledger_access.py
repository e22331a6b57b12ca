"""How the web layer reaches the ledger: one store per server thread, and who is visiting.

A visitor is whoever holds an active session token: a bearer token for the API, the session
cookie for the page, never the other way round. The token is checked against the ledger on every
request, through the same command as `sessions check`, so a session revoked anywhere is refused
on its very next request.

Where a request comes from is the TCP peer, unless the peer is a proxy the operator trusts
(`forwarded_allow_ips`): then it is the right-most address of X-Forwarded-For that no trusted
proxy wrote, the last hop nobody we trust could have made up.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter

from commands.inputs import UserAgent
from commands.services import Services
from commands.sessions import CheckSession, check_session
from ledger.clock import Clock
from ledger.errors import LedgerError, MfaEnrolmentRequired
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation

SESSION_COOKIE = "flero_session"
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 (recorded when the client's address is unknown)
_USER_AGENT: TypeAdapter[str] = TypeAdapter(UserAgent)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class NotSignedIn(Exception):
    """No token, or one the ledger does not accept (revoked, idle, unknown)."""


class ForgedForm(Exception):
    """A form posted without its CSRF token: refused, and nothing done."""


@dataclass(frozen=True)
class Visitor:
    email: str
    session_id: str
    token: str
    ip: str | None
    user_agent: str | None
    account_id: UUID  # the signed-in account (its address's live generation)
    restricted: str | None = None  # may only enrol a factor and sign out (MFA required)

    @property
    def csrf_token(self) -> str:
        """Bound to the session: a page from another site cannot know it (the cookie is
        HttpOnly and SameSite=Strict), so a form it forges is refused."""
        return hmac.digest(self.token.encode(), b"flero-ledger/csrf", "sha256").hex()

    def actor(self) -> dict[str, str | None]:
        """The fields every command records about who acted and from where."""
        return {
            "actor": self.email,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "acting_session": self.session_id,
        }


@dataclass(frozen=True)
class ClientAddress:
    """`ip`: the client, as far as it can be believed; `peer_ip`: the connecting peer, only
    when it is a trusted proxy that spoke for someone else."""

    ip: str | None
    peer_ip: str | None = None


class LedgerAccess:
    """A store per thread: the server runs handlers in a thread pool, and a store's
    connections belong to the thread that opened them."""

    def __init__(
        self, location: StoreLocation, clock: Clock, trusted_proxies: Sequence[IpNetwork] = ()
    ) -> None:
        self.location = location
        self.clock = clock
        self.trusted_proxies = tuple(trusted_proxies)
        self._local = threading.local()

    def services(self) -> Services:
        services: Services | None = getattr(self._local, "services", None)
        if services is None:
            services = Services(store=LedgerStore(self.location), clock=self.clock)
            self._local.services = services
        return services

    def api_visitor(self, request: Request) -> Visitor:
        """By bearer token only: a browser sends the cookie along with whatever a page on
        another site makes it send, so the cookie never opens the API. A session restricted
        to enrolling a factor is refused (403 mfa_enrolment_required)."""
        return self._visitor(request, bearer_token(request), enrolling=False)

    def api_enroller(self, request: Request) -> Visitor:
        """As `api_visitor`, for what a restricted session may still do: enrol a factor,
        look at its MFA state, sign out."""
        return self._visitor(request, bearer_token(request), enrolling=True)

    def page_visitor(self, request: Request, enrolling: bool = False) -> Visitor:
        """By the session cookie. `enrolling`: for what a restricted session may still do
        (the page then shows it only enrolment: web.pages)."""
        return self._visitor(request, request.cookies.get(SESSION_COOKIE), enrolling)

    def _visitor(self, request: Request, token: str | None, enrolling: bool) -> Visitor:
        if not token or len(token) > 512:
            raise NotSignedIn
        ip = self.client(request).ip
        check = CheckSession(token=token, ip=ip, enrolling=enrolling)
        try:
            active = check_session(self.services(), check)
        except MfaEnrolmentRequired:
            raise
        except LedgerError:
            raise NotSignedIn from None
        agent = client_user_agent(request)
        return Visitor(
            active.email, active.session_id, token, ip, agent, active.account_id, active.restricted
        )

    def client(self, request: Request) -> ClientAddress:
        peer = ip_address_or_none(request.client.host if request.client else None)
        if peer is None or not self.trusts(peer):
            return ClientAddress(str(peer) if peer else None)
        client = peer
        for hop in reversed(forwarded_for(request)):
            address = ip_address_or_none(hop)
            if address is None:
                break  # garbage: nothing written before it can be believed either
            client = address
            if not self.trusts(address):
                break
        return ClientAddress(str(client), str(peer) if client != peer else None)

    def trusts(self, address: IpAddress) -> bool:
        return any(address in network for network in self.trusted_proxies)

    def sign_in_origin(self, request: Request) -> dict[str, str | None]:
        """Where a sign-in attempt comes from, as `commands.login.Login` records it."""
        client = self.client(request)
        return {
            "ip": client.ip or UNKNOWN_ADDRESS,
            "peer_ip": client.peer_ip,
            "user_agent": client_user_agent(request) or "unknown",
        }


def parse_forwarded_allow_ips(listing: str) -> tuple[IpNetwork, ...]:
    """The proxies trusted to name the client, from `10.0.0.1,10.1.0.0/16,fd00::/8`.

    An empty listing trusts nobody. Raises ValueError naming the first malformed entry.
    """
    if not listing.strip():
        return ()
    return tuple(proxy_network(entry.strip()) for entry in listing.split(","))


def proxy_network(entry: str) -> IpNetwork:
    try:
        if "%" in entry:  # a zone id names a local interface: no peer ever matches it
            raise ValueError
        return ipaddress.ip_network(entry)  # strict: 10.0.0.1/8 is a typo, not 10.0.0.0/8
    except ValueError:
        raise ValueError(
            f"{entry!r} is not an IP address or network "
            "(e.g. 10.0.0.1, 10.0.0.0/8 or fd00::/8, with no host bits set)"
        ) from None


def forwarded_for(request: Request) -> list[str]:
    """Every X-Forwarded-For hop, oldest first (several headers read as one list)."""
    return [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]


def ip_address_or_none(text: str | None) -> IpAddress | None:
    """An address as recorded: IPv4-mapped IPv6 as the IPv4 it is; None for a test client's
    name, a Unix socket, an address with a zone id (a local interface) or garbage."""
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return None if address.scope_id else address.ipv4_mapped or address
    return address


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def client_user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return _USER_AGENT.validate_python(agent) if agent else None  # bounded, never refused


def same_token(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def start_session(request: Request, token: str) -> Response:
    """Signed in: on to the Security tab, holding the session in an HttpOnly, SameSite=Strict
    cookie (no other site's page can make the browser send it)."""
    answer = RedirectResponse("/security", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer
