"""Verifying an OpenID Connect ID token: what the identity provider proved, or why not.

Signatures are checked by joserfc with the provider's published keys only: `alg: none`,
HMAC algorithms (which would let the public key act as a shared secret) and keys carried in the
token's own header are never used. The claims are then checked as OpenID Connect Core 1.0
(section 3.1.3.7) asks: issuer, audience (and `azp` when there are several), expiry, not-before
and issue time with at most two minutes of clock skew, and the nonce the browser was given.

Pure: the keys are handed in (see `ledger.identity_provider` for fetching them), so are the
clock and the expected nonce.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    SecurityWarning,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

# Asymmetric algorithms only: the verifier holds public keys, never a shared secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "ES512", "EdDSA", "Ed25519")
CLOCK_SKEW = timedelta(minutes=2)
MAX_TOKEN_LENGTH = 16 * 1024
# Header parameters that carry or point at a key: the token would vouch for itself.
SELF_KEYING_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
# RFC 8176 authentication method references that mean "more than one factor was used".
MULTI_FACTOR_AMR = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "retina"})
MULTI_FACTOR_ACR = frozenset(
    {"mfa", "phr", "phrh", "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}
)

# What failed, recorded with `invalid_id_token`.
Failure = Literal[
    "malformed",
    "algorithm",
    "unknown_key",
    "signature",
    "issuer",
    "audience",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "nonce",
    "subject",
]


class InvalidIdToken(Exception):
    """The token proves nothing; `what` says which check failed."""

    def __init__(self, what: Failure, message: str) -> None:
        super().__init__(message)
        self.what = what


@dataclass(frozen=True)
class Expectations:
    """What a token must say to be for us, now."""

    issuer: str
    client_id: str
    at: datetime
    nonce: str | None = None  # None: the caller ran a flow without one (checked elsewhere)


@dataclass(frozen=True)
class VerifiedIdToken:
    """The claims an identity provider signed, after every check passed."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    amr: tuple[str, ...]
    acr: str | None
    auth_time: datetime | None
    expires_at: datetime
    token_hash: str  # SHA-256 of the compact token: evidence, and replay detection
    jti: str | None

    @property
    def replay_key(self) -> str:
        """The same token presented twice has the same key (its `jti`, else its hash)."""
        return f"jti:{self.jti}" if self.jti else f"sha256:{self.token_hash}"

    @property
    def accepted_until(self) -> datetime:
        """After this instant the token no longer verifies (its expiry, plus the skew)."""
        return self.expires_at + CLOCK_SKEW

    @property
    def asserts_mfa(self) -> bool:
        return bool(MULTI_FACTOR_AMR.intersection(self.amr)) or self.acr in MULTI_FACTOR_ACR


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id(token: str) -> str | None:
    """The `kid` a token names, read without trusting anything else about it."""
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, UnicodeError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def verify(token: str, keys: KeySet, expect: Expectations) -> VerifiedIdToken:
    """The verified claims, or InvalidIdToken naming the first check that failed."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidIdToken("malformed", "that is not a signed ID token (compact JWS)")
    claims = _verified_claims(token, keys)
    _check_claims(claims, expect)
    return VerifiedIdToken(
        issuer=claims["iss"],
        subject=claims["sub"],
        email=_text(claims.get("email")),
        email_verified=claims.get("email_verified") is True,
        amr=tuple(v for v in claims.get("amr") or () if isinstance(v, str)),
        acr=_text(claims.get("acr")),
        auth_time=_instant(claims.get("auth_time")),
        expires_at=_instant(claims["exp"]) or expect.at,
        token_hash=token_hash(token),
        jti=_text(claims.get("jti")),
    )


def _verified_claims(token: str, keys: KeySet) -> dict[str, Any]:
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, UnicodeError):
        raise InvalidIdToken("malformed", "the ID token cannot be read") from None
    if header.get("alg") not in ALGORITHMS:
        raise InvalidIdToken("algorithm", f"algorithm {header.get('alg')!r} is not accepted")
    if SELF_KEYING_HEADERS.intersection(header):
        raise InvalidIdToken("unknown_key", "the token brings its own key; only the IdP's count")
    try:
        with warnings.catch_warnings():  # "EdDSA" is the name IdPs publish, deprecated or not
            warnings.simplefilter("ignore", SecurityWarning)
            decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
    except InvalidKeyIdError:
        raise InvalidIdToken(
            "unknown_key", "the token names a key the IdP does not publish"
        ) from None
    except (BadSignatureError, UnsupportedAlgorithmError):
        raise InvalidIdToken("signature", "the token's signature is not the IdP's") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidIdToken("malformed", "the ID token cannot be read") from None
    return dict(decoded.claims)


def _check_claims(claims: dict[str, Any], expect: Expectations) -> None:
    if claims.get("iss") != expect.issuer:
        raise InvalidIdToken("issuer", "the token was issued by another identity provider")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(audiences, list) or expect.client_id not in audiences:
        raise InvalidIdToken("audience", "the token was issued for another application")
    if len(audiences) > 1 and claims.get("azp") != expect.client_id:
        raise InvalidIdToken("audience", "the token was issued for another application")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise InvalidIdToken("subject", "the token names no subject")
    registry = jwt.JWTClaimsRegistry(
        now=int(expect.at.timestamp()),
        leeway=int(CLOCK_SKEW.total_seconds()),
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidIdToken("expired", "the ID token has expired") from None
    except ClaimError as problem:
        what: Failure = {"nbf": "not_yet_valid", "iat": "issued_in_future"}.get(
            getattr(problem, "claim", ""), "malformed"
        )  # type: ignore[assignment]
        raise InvalidIdToken(what, f"the ID token is not valid now ({problem})") from None
    if expect.nonce is not None and claims.get("nonce") != expect.nonce:
        raise InvalidIdToken("nonce", "the token was not issued for this sign-in (nonce)")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _instant(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims as the token states them, NOT verified: only a hint of whose sign-in this is
    (which account to verify it for and record it on). Never a reason to trust anything."""
    try:
        payload = jws.extract_compact(token.encode()).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}
