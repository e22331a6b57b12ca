"""Bearer secrets: session tokens and API keys. Shown once; only their SHA-256 is kept.

Both carry 256 random bits, so a plain hash is enough (no KDF needed) and lookups stay fast.
A session token names its account and session, so it can be checked without a directory:
`fls.<account>.<session>.<secret>`. An API key names itself: `flk.<key>.<secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from uuid import UUID

SESSION_PREFIX = "fls"
API_KEY_PREFIX = "flk"


@dataclass(frozen=True)
class IssuedSecret:
    public_id: str  # the session id or key id users see
    secret: str  # the whole token or key, shown once
    secret_hash: str


@dataclass(frozen=True)
class SessionToken:
    account_id: UUID
    session_id: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(digest(secret), stored_hash)


def issue_session_token(account_id: UUID) -> IssuedSecret:
    session_id = secrets.token_hex(8)
    token = f"{SESSION_PREFIX}.{account_id.hex}.{session_id}.{secrets.token_urlsafe(32)}"
    return IssuedSecret(public_id=session_id, secret=token, secret_hash=digest(token))


def read_session_token(token: str) -> SessionToken | None:
    """Which account and session a token claims to belong to (not yet verified)."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != SESSION_PREFIX:
        return None
    try:
        return SessionToken(account_id=UUID(hex=parts[1]), session_id=parts[2])
    except ValueError:
        return None


def issue_api_key() -> IssuedSecret:
    key_id = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"
    return IssuedSecret(public_id=key_id, secret=key, secret_hash=digest(key))


def read_api_key_id(key: str) -> str | None:
    parts = key.strip().split(".")
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    return parts[1]
