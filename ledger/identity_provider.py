"""Talking to an organisation's OpenID provider: discovery, its signing keys, code exchange.

The provider's discovery document (`/.well-known/openid-configuration`) and key set are fetched
once and kept per issuer. A token naming a key the cached set lacks triggers one refetch (the
provider rotated its keys), at most once a minute per issuer, so forged `kid`s cannot turn the
ledger into a flood of requests. Keys pinned in the organisation's settings (`--jwks-file`) are
used as they are, with no network at all.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ledger.errors import LedgerError
from ledger.organisation import ProviderSettings

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_LIFETIME = 3600.0  # seconds a fetched document or key set is used before a refetch
REFETCH_INTERVAL = 60.0  # at most one refetch per issuer this often, for an unknown key
TIMEOUT = httpx.Timeout(5.0)
MAX_DOCUMENT_BYTES = 256 * 1024


class IdpUnavailable(LedgerError):
    """The provider could not be reached, or answered something unusable."""

    code = "idp_unavailable"


def parse_key_set(document: str) -> KeySet:
    """A JWKS document's public keys; ValueError when it is not one."""
    try:
        data = json.loads(document)
        with warnings.catch_warnings():  # joserfc warns of short keys: refused just below
            warnings.simplefilter("ignore")
            keys = KeySet.import_key_set(data)
    except (ValueError, TypeError, KeyError, JoseError) as problem:
        raise ValueError(f"not a JSON Web Key Set ({problem})") from None
    if not keys.keys or any(key.is_private for key in keys.keys):
        raise ValueError("a JSON Web Key Set of public keys is expected")
    return keys


@dataclass
class _Cached:
    discovery: dict[str, Any]
    keys: KeySet | None = None
    fetched_at: float = 0.0
    keys_fetched_at: float = 0.0
    forced_refetch_at: float | None = None  # the last refetch an unknown `kid` caused


@dataclass
class IdentityProviders:
    """Per-issuer caches, shared by every command in a process (a server's threads too)."""

    client: Callable[[], httpx.Client] = field(default=lambda: httpx.Client(timeout=TIMEOUT))
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def signing_keys(self, settings: ProviderSettings, kid: str | None) -> KeySet:
        """The keys to verify a token naming `kid` with; refetched once if the kid is new."""
        if settings.pinned_keys is not None:
            return parse_key_set(settings.pinned_keys)
        with self._lock:
            cached = self._provider(settings.issuer)
            now = self.clock()
            stale = cached.keys is None or now - cached.keys_fetched_at > CACHE_LIFETIME
            rotated = cached.keys is not None and kid is not None and not _has_kid(cached.keys, kid)
            last_forced = cached.forced_refetch_at
            may_force = last_forced is None or now - last_forced > REFETCH_INTERVAL
            if stale or (rotated and may_force):
                cached.keys = parse_jwks_answer(self._get(_endpoint(cached.discovery, "jwks_uri")))
                cached.keys_fetched_at = now
                cached.forced_refetch_at = now if rotated else cached.forced_refetch_at
            assert cached.keys is not None
            return cached.keys

    def authorization_endpoint(self, settings: ProviderSettings) -> str:
        with self._lock:
            return _endpoint(self._provider(settings.issuer).discovery, "authorization_endpoint")

    def exchange_code(
        self, settings: ProviderSettings, code: str, redirect_uri: str, verifier: str
    ) -> str:
        """The ID token the provider issues for an authorization code (PKCE-bound)."""
        with self._lock:
            endpoint = _endpoint(self._provider(settings.issuer).discovery, "token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": settings.client_id,
        }
        try:
            with self.client() as client:
                if settings.client_secret:  # client_secret_basic
                    auth = (settings.client_id, settings.client_secret)
                    answer = client.post(endpoint, data=form, auth=auth)
                else:  # a public client: PKCE alone binds the code
                    answer = client.post(endpoint, data=form)
        except httpx.HTTPError as problem:
            raise IdpUnavailable(f"the identity provider cannot be reached ({problem})") from None
        token = _json(answer).get("id_token") if answer.status_code == 200 else None
        if not isinstance(token, str):
            raise IdpUnavailable(
                f"the identity provider did not issue an ID token (HTTP {answer.status_code})"
            )
        return token

    def _provider(self, issuer: str) -> _Cached:
        cached = self._cache.get(issuer)
        if cached is None or self.clock() - cached.fetched_at > CACHE_LIFETIME:
            discovery = _json_answer(self._get(issuer.rstrip("/") + DISCOVERY_PATH))
            if discovery.get("issuer") != issuer:
                raise IdpUnavailable("the provider's discovery document names another issuer")
            cached = _Cached(discovery=discovery, fetched_at=self.clock())
            self._cache[issuer] = cached
        return cached

    def _get(self, url: str) -> httpx.Response:
        try:
            with self.client() as client:
                answer = client.get(url)
        except httpx.HTTPError as problem:
            raise IdpUnavailable(f"the identity provider cannot be reached ({problem})") from None
        if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT_BYTES:
            raise IdpUnavailable(f"the identity provider answered HTTP {answer.status_code}")
        return answer


def parse_jwks_answer(answer: httpx.Response) -> KeySet:
    try:
        return parse_key_set(answer.text)
    except ValueError as problem:
        raise IdpUnavailable(f"the identity provider's keys are unusable: {problem}") from None


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _endpoint(discovery: dict[str, Any], name: str) -> str:
    url = discovery.get(name)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise IdpUnavailable(f"the provider's discovery document has no usable {name}")
    return url


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json_answer(answer: httpx.Response) -> dict[str, Any]:
    data = _json(answer)
    if not data:
        raise IdpUnavailable("the identity provider answered something that is not JSON")
    return data


DEFAULT_PROVIDERS = IdentityProviders()
