"""How the web layer reaches the ledger: one store per server thread, and who is visiting.

A visitor is whoever holds an active session token (a cookie for the page, a bearer token for
the API). The token is checked against the ledger on every request, through the same command
as `sessions check`, so a session revoked anywhere is refused on its very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
from dataclasses import dataclass

from fastapi import Request
from pydantic import TypeAdapter

from commands.inputs import UserAgent
from commands.services import Services
from commands.sessions import CheckSession, check_session
from ledger.clock import Clock
from ledger.errors import LedgerError
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation

SESSION_COOKIE = "flero_session"
_USER_AGENT: TypeAdapter[str] = TypeAdapter(UserAgent)


class NotSignedIn(Exception):
    """No token, or one the ledger does not accept (revoked, idle, unknown)."""


class ForgedForm(Exception):
    """A form posted without this session's CSRF token: refused, and the session kept."""


@dataclass(frozen=True)
class Visitor:
    email: str
    session_id: str
    token: str
    ip: str | None
    user_agent: str | None

    @property
    def csrf_token(self) -> str:
        """Bound to the session: a page from another site cannot know it (the cookie is
        HttpOnly and SameSite=Strict), so a form it forges is refused."""
        return hmac.digest(self.token.encode(), b"flero-ledger/csrf", "sha256").hex()

    def actor(self) -> dict[str, str | None]:
        """The fields every command records about who acted and from where."""
        return {"actor": self.email, "ip": self.ip, "user_agent": self.user_agent}


class LedgerAccess:
    """A store per thread: the server runs handlers in a thread pool, and a store's
    connections belong to the thread that opened them."""

    def __init__(self, location: StoreLocation, clock: Clock) -> None:
        self.location = location
        self.clock = clock
        self._local = threading.local()

    def services(self) -> Services:
        services: Services | None = getattr(self._local, "services", None)
        if services is None:
            services = Services(store=LedgerStore(self.location), clock=self.clock)
            self._local.services = services
        return services

    def visitor(self, request: Request) -> Visitor:
        token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 512:
            raise NotSignedIn
        ip = client_ip(request)
        try:
            active = check_session(self.services(), CheckSession(token=token, ip=ip))
        except LedgerError:
            raise NotSignedIn from None
        return Visitor(active.email, active.session_id, token, ip, client_user_agent(request))


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def client_ip(request: Request) -> str | None:
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None  # a test client, or a Unix socket


def client_user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return _USER_AGENT.validate_python(agent) if agent else None  # bounded, never refused


def same_token(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )
