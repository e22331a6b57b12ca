"""OpenID providers for the SSO tests.

`SigningIdp` mints ID tokens with keys of its own, so that a test can forge every kind of bad
token (wrong key, `alg: none`, HMAC with the public key, wrong audience...). `serve_keys` puts
its discovery document and key set on 127.0.0.1, for the tests of fetching, caching and key
rotation. `real_provider` runs oidc-provider-mock, an OpenID provider this project did not write.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

CLIENT_ID = "flero-ledger"
ISSUER = "https://idp.acme.test"
Key = RSAKey | ECKey | OKPKey
ALGORITHM = {RSAKey: "RS256", ECKey: "ES256", OKPKey: "EdDSA"}


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid}, private=True)


@dataclass
class SigningIdp:
    """An identity provider whose keys the test holds: it signs whatever the test asks."""

    issuer: str = ISSUER
    client_id: str = CLIENT_ID
    keys: list[Key] = field(default_factory=lambda: [rsa_key("k1")])
    served: int = 0  # how many times its key set was fetched (see `serve_keys`)

    def jwks(self) -> str:
        return json.dumps({"keys": [key.as_dict(private=False) for key in self.keys]})

    def jwks_file(self, folder: Path) -> Path:
        path = folder / "idp-keys.json"
        path.write_text(self.jwks())
        return path

    def claims(self, at: datetime, email: str, **changes: Any) -> dict[str, Any]:
        base = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": f"sub-{email}",
            "email": email,
            "email_verified": True,
            "amr": ["pwd", "mfa"],
            "iat": int(at.timestamp()),
            "auth_time": int(at.timestamp()),
            "exp": int((at + timedelta(minutes=5)).timestamp()),
        }
        return {k: v for k, v in (base | changes).items() if v is not None}

    def token(
        self,
        at: datetime,
        email: str,
        *,
        key: Key | None = None,
        header: dict[str, Any] | None = None,
        **changes: Any,
    ) -> str:
        """A compact ID token signed with `key` (the provider's first key by default)."""
        signer = key or self.keys[0]
        alg = ALGORITHM[type(signer)]
        protected = {"alg": alg, "kid": signer.kid, **(header or {})}
        return jwt.encode(protected, self.claims(at, email, **changes), signer, algorithms=[alg])


def unsigned_token(claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token whose header and claims are the test's, with an empty signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def public_keys(idp: SigningIdp) -> KeySet:
    return KeySet.import_key_set(json.loads(idp.jwks()))


@contextmanager
def serve_keys(idp: SigningIdp) -> Iterator[str]:
    """Serve `idp`'s discovery document and current keys on 127.0.0.1; yields the issuer.

    The issuer of `idp` is changed to the served one for the duration."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = json.dumps(
                    {
                        "issuer": idp.issuer,
                        "jwks_uri": f"{idp.issuer}/keys",
                        "authorization_endpoint": f"{idp.issuer}/authorize",
                        "token_endpoint": f"{idp.issuer}/token",
                    }
                )
            elif self.path == "/keys":
                idp.served += 1
                body = idp.jwks()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield idp.issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def real_provider() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1, in a thread; yields its issuer URL."""
    import oidc_provider_mock
    import werkzeug.serving

    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
