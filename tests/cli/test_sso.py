"""Single sign-on with OpenID Connect, from the command line: only a verified ID token signs in.

Most tokens here are forged by the test's own provider (`SigningIdp`), whose keys the
organisation pins with --jwks-file; fetching, caching and key rotation are tested against keys
served on 127.0.0.1; one story runs against oidc-provider-mock, a real OpenID provider.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from tests.conftest import Ledger
from tests.identity_provider import SigningIdp, real_provider, rsa_key, serve_keys, unsigned_token

IP = "81.2.69.160"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
ADA = "ada@acme.test"


@pytest.fixture
def idp() -> SigningIdp:
    return SigningIdp()


@pytest.fixture
def acme(ledger: Ledger, idp: SigningIdp, tmp_path: Path) -> str:
    """Organisation acme signs in through `idp` (keys pinned); ada is a member."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    configure(ledger, idp, tmp_path, "idp")
    return ADA


def configure(ledger: Ledger, idp: SigningIdp, folder: Path, mfa: str, *extra: str) -> Any:
    keys = ["--jwks-file", str(idp.jwks_file(folder))] if idp.issuer.startswith("https") else []
    return ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer),
        *("--client-id", idp.client_id, *keys, "--mfa", mfa, *extra),
    )


def sso(ledger: Ledger, email: str, token: str, *extra: str) -> dict[str, Any]:
    result = ledger.run(
        *("login", email, "--method", "sso", "--ip", IP, "--user-agent", BROWSER),
        *("--id-token-stdin", *extra, "--json"),
        stdin=token + "\n",
    )
    document = json.loads(result.stdout)
    assert result.exit_code == (0 if document["outcome"] == "success" else 1), result.output
    if document["outcome"] == "failed":
        assert document.pop("error")["code"] == document["reason"]
    return dict(document)


def last_attempt(ledger: Ledger, email: str) -> dict[str, Any]:
    events = ledger.ok("timeline", email, "--on", ledger.now.date().isoformat())
    return dict([e for e in events if e["event"].startswith("Login")][-1])


# ---- signing in --------------------------------------------------------------------------------


def test_a_verified_token_signs_in_and_the_evidence_is_recorded(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    token = idp.token(ledger.now, acme, amr=["pwd", "otp"], acr="phr")

    signed_in = sso(ledger, acme, token)

    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "idp"
    assert ledger.ok("sessions", "list", acme)[0]["session_id"] == signed_in["session_id"]
    assert [(h["method"], h["outcome"]) for h in ledger.ok("history", acme)] == [("sso", "success")]
    recorded = last_attempt(ledger, acme)
    assert recorded["event"] == "LoginSucceeded"
    evidence = recorded["details"]["sso_evidence"]
    assert evidence["issuer"] == idp.issuer
    assert evidence["subject"] == f"sub-{acme}"
    assert evidence["amr"] == ["pwd", "otp"]
    assert evidence["acr"] == "phr"
    assert evidence["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert recorded["details"]["idp"] == "okta"


def test_the_idp_must_assert_mfa_in_the_token_when_the_org_relies_on_it(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    assert sso(ledger, acme, idp.token(ledger.now, acme, amr=["pwd"])) == {
        "outcome": "failed",
        "reason": "idp_mfa_required",
    }
    assert sso(ledger, acme, idp.token(ledger.now, acme, amr=None, acr="mfa"))["factor"] == "idp"


def test_an_id_token_is_accepted_once(ledger: Ledger, idp: SigningIdp, acme: str) -> None:
    token = idp.token(ledger.now, acme)
    assert sso(ledger, acme, token)["outcome"] == "success"

    assert sso(ledger.later(seconds=5), acme, token) == {
        "outcome": "failed",
        "reason": "id_token_reused",
    }
    assert last_attempt(ledger, acme)["details"]["reason"] == "id_token_reused"
    # Another token of the same subject still works; jti tells tokens apart when there is one.
    assert sso(ledger, acme, idp.token(ledger.now, acme, jti="a"))["outcome"] == "success"
    assert sso(ledger, acme, idp.token(ledger.now, acme, jti="a"))["reason"] == "id_token_reused"


def forged(idp: SigningIdp, at: datetime, email: str) -> dict[str, str]:
    """Tokens that must prove nothing, each named for the check that refuses it."""
    claims = idp.claims(at, email)
    hmac_key = OctKey.import_key(json.dumps(idp.keys[0].as_dict(private=False)).encode())
    return {
        "signature": idp.token(at, email, key=rsa_key("k1")),
        "algorithm": unsigned_token(claims, {"alg": "none", "kid": "k1"}),
        "algorithm (HS256 with the public key)": jwt.encode(
            {"alg": "HS256", "kid": "k1"}, claims, hmac_key, algorithms=["HS256"]
        ),
        "unknown_key": idp.token(at, email, key=rsa_key("k2")),
        "unknown_key (a key URL in the header)": idp.token(
            at, email, header={"jku": "https://evil.example/keys"}
        ),
        "issuer": idp.token(at, email, iss="https://evil.example"),
        "audience": idp.token(at, email, aud="another-app"),
        "audience (several, azp another)": idp.token(
            at, email, aud=[idp.client_id, "another-app"], azp="another-app"
        ),
        "expired": idp.token(at - timedelta(minutes=10), email),
        "not_yet_valid": idp.token(at, email, nbf=int((at + timedelta(minutes=5)).timestamp())),
        "issued_in_future": idp.token(at + timedelta(minutes=5), email),
    }


@pytest.mark.parametrize(
    "name",
    [
        "signature",
        "algorithm",
        "algorithm (HS256 with the public key)",
        "unknown_key",
        "unknown_key (a key URL in the header)",
        "issuer",
        "audience",
        "audience (several, azp another)",
        "expired",
        "not_yet_valid",
        "issued_in_future",
    ],
)
def test_a_forged_or_misdirected_token_is_refused_and_recorded(
    ledger: Ledger, idp: SigningIdp, acme: str, name: str
) -> None:
    token = forged(idp, ledger.now, acme)[name]

    assert sso(ledger, acme, token) == {"outcome": "failed", "reason": "invalid_id_token"}

    recorded = last_attempt(ledger, acme)
    assert recorded["event"] == "LoginFailed"
    assert recorded["details"]["sso_evidence"]["detail"] == name.split(" ")[0]
    assert ledger.ok("sessions", "list", acme) == []


def test_a_two_minute_clock_skew_is_tolerated_and_no_more(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    late = idp.token(ledger.now - timedelta(minutes=6, seconds=50), acme)  # expired 110 s ago
    assert sso(ledger, acme, late)["outcome"] == "success"
    early = idp.token(ledger.now + timedelta(seconds=110), acme)
    assert sso(ledger, acme, early)["outcome"] == "success"


def test_the_nonce_the_flow_sent_must_be_in_the_token(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    token = idp.token(ledger.now, acme, nonce="n-1")
    assert sso(ledger, acme, token, "--nonce", "n-2")["reason"] == "invalid_id_token"
    assert last_attempt(ledger, acme)["details"]["sso_evidence"]["detail"] == "nonce"
    assert sso(ledger, acme, token, "--nonce", "n-1")["outcome"] == "success"


def test_an_unverified_email_or_someone_elses_token_signs_nobody_in(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    ledger.ok("user", "create", "bob@acme.test", "--org", "acme")

    unverified = idp.token(ledger.now, acme, email_verified=False)
    assert sso(ledger, acme, unverified)["reason"] == "email_not_verified"
    bobs = idp.token(ledger.now, "bob@acme.test")
    assert sso(ledger, acme, bobs)["reason"] == "invalid_id_token"
    assert ledger.ok("sessions", "list", acme) == []


def test_another_organisations_member_cannot_use_this_idp(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", "carol@globex.test", "--org", "globex")

    token = idp.token(ledger.now, "carol@globex.test")
    assert sso(ledger, "carol@globex.test", token)["reason"] == "sso_not_configured"


def test_the_first_sign_in_binds_the_account_to_its_idp_subject(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    ledger.ok("user", "create", "bob@acme.test", "--org", "acme")
    assert sso(ledger, acme, idp.token(ledger.now, acme, sub="idp-user-1"))["outcome"] == "success"

    # Another subject with ada's verified address is not ada.
    impostor = idp.token(ledger.now, acme, sub="idp-user-2")
    assert sso(ledger, acme, impostor)["reason"] == "invalid_id_token"
    # Ada's subject, after her address at the IdP changed to bob's, does not become bob.
    moved = idp.token(ledger.now, "bob@acme.test", sub="idp-user-1")
    assert sso(ledger, "bob@acme.test", moved)["reason"] == "invalid_id_token"
    assert ledger.ok("sessions", "list", "bob@acme.test") == []
    # Her own subject still signs her in, whatever address it now carries.
    renamed = idp.token(ledger.now, "ada.lovelace@acme.test", sub="idp-user-1")
    assert sso(ledger, acme, renamed)["outcome"] == "success"


def test_an_address_without_an_account_answers_like_an_account_without_sso(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", "carol@globex.test", "--org", "globex")

    nobody = sso(ledger, "nobody@acme.test", idp.token(ledger.now, "nobody@acme.test"))
    no_sso = sso(ledger, "carol@globex.test", idp.token(ledger.now, "carol@globex.test"))
    assert nobody == no_sso == {"outcome": "failed", "reason": "sso_not_configured"}


def test_there_is_no_sso_sign_in_without_a_token(
    ledger: Ledger, idp: SigningIdp, acme: str
) -> None:
    before = ledger.event_count()
    sign_in = ("login", acme, "--method", "sso", "--ip", IP, "--user-agent", BROWSER)

    assert "--id-token-stdin" in ledger.bad_input(*sign_in).output
    assert "No such option" in ledger.bad_input(*sign_in, "--idp-mfa").output
    ledger.bad_input(*sign_in, "--id-token-stdin", stdin="not-a-token\n")
    assert ledger.event_count() == before


def test_the_client_secret_is_sealed_in_the_store(
    ledger: Ledger, idp: SigningIdp, acme: str, tmp_path: Path, backend: str
) -> None:
    secret = "client-secret-" + secrets.token_hex(8)
    ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer),
        *("--client-id", idp.client_id, "--client-secret-stdin", "--mfa", "idp"),
        stdin=secret + "\n",
    )
    everything = json.dumps(ledger.ok("timeline", acme, "--on", ledger.now.date().isoformat()))
    if backend == "sqlite":
        everything += (tmp_path / "ledger.sqlite3").read_bytes().decode("latin-1")
    assert secret not in everything


@pytest.mark.parametrize(
    "issuer",
    ["http://idp.example.com", "ftp://idp.example.com", "https://idp.example.com/?x=1", "idp"],
)
def test_an_issuer_must_be_https_except_on_this_machine(
    ledger: Ledger, idp: SigningIdp, acme: str, issuer: str
) -> None:
    before = ledger.event_count()
    ledger.bad_input(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", issuer),
        *("--client-id", "x", "--mfa", "idp"),
    )
    assert ledger.event_count() == before


def test_a_jwks_file_must_hold_public_keys(
    ledger: Ledger, idp: SigningIdp, acme: str, tmp_path: Path
) -> None:
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [idp.keys[0].as_dict(private=True)]}))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    for path in (private, junk):
        ledger.bad_input(
            *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer),
            *("--client-id", "x", "--jwks-file", str(path), "--mfa", "idp"),
        )


# ---- keys fetched from the provider ----------------------------------------------------------


def test_keys_are_fetched_cached_and_refetched_once_when_the_provider_rotates(
    ledger: Ledger, acme: str, tmp_path: Path
) -> None:
    idp = SigningIdp()
    with serve_keys(idp):
        configure(ledger, idp, tmp_path, "idp")
        assert sso(ledger, acme, idp.token(ledger.now, acme, jti="1"))["outcome"] == "success"
        assert sso(ledger, acme, idp.token(ledger.now, acme, jti="2"))["outcome"] == "success"
        assert idp.served == 1

        idp.keys = [rsa_key("k2"), *idp.keys]  # the provider rotates to a new signing key
        assert sso(ledger, acme, idp.token(ledger.now, acme, jti="3"))["outcome"] == "success"
        assert idp.served == 2

        # A flood of unknown key ids costs the provider at most one more request a minute.
        for n in range(5):
            stranger = idp.token(ledger.now, acme, key=rsa_key(f"x{n}"), jti=f"x{n}")
            assert sso(ledger, acme, stranger)["reason"] == "invalid_id_token"
        assert idp.served == 2


def test_an_unreachable_provider_answers_idp_unavailable_and_records_one_attempt(
    ledger: Ledger, acme: str, tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    idp = SigningIdp(issuer=f"http://127.0.0.1:{port}")
    configure(ledger, idp, tmp_path, "idp")
    day = ledger.now.date().isoformat()
    before = ledger.ok("timeline", acme, "--on", day)

    assert sso(ledger, acme, idp.token(ledger.now, acme)) == {
        "outcome": "failed",
        "reason": "idp_unavailable",
    }
    after = ledger.ok("timeline", acme, "--on", day)
    assert [e["event"] for e in after[len(before) :]] == ["LoginFailed"]
    assert after[-1]["details"]["reason"] == "idp_unavailable"


# ---- a real OpenID provider ------------------------------------------------------------------


def authorization_code_flow(issuer: str, email: str, amr: list[str], nonce: str) -> str:
    """What a browser and a backend do with the provider: an ID token for `email`."""
    httpx.put(
        f"{issuer}/users/{email}",
        json={"email": email, "email_verified": True, "amr": amr},
    ).raise_for_status()
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect = "http://127.0.0.1/signin/sso/callback"
    query = {
        "response_type": "code",
        "client_id": "flero-ledger",
        "redirect_uri": redirect,
        "scope": "openid email",
        "state": "s",
        "nonce": nonce,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    answer = httpx.post(
        f"{discovery['authorization_endpoint']}?{urlencode(query)}", data={"sub": email}
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    tokens = httpx.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
        auth=("flero-ledger", "secret"),
    ).json()
    return str(tokens["id_token"])


def test_a_token_from_a_real_openid_provider_signs_in(ledger: Ledger, acme: str) -> None:
    with real_provider() as issuer:
        ledger.at(datetime.now(UTC))
        ledger.ok(
            *("org", "sso", "acme", "--idp", "mock", "--issuer", issuer),
            *("--client-id", "flero-ledger", "--mfa", "idp"),
        )
        with_mfa = authorization_code_flow(issuer, acme, ["pwd", "mfa"], "nonce-1")
        without = authorization_code_flow(issuer, acme, ["pwd"], "nonce-2")

        assert sso(ledger, acme, without, "--nonce", "nonce-2")["reason"] == "idp_mfa_required"
        assert sso(ledger, acme, with_mfa, "--nonce", "nonce-0")["reason"] == "invalid_id_token"
        signed_in = sso(ledger, acme, with_mfa, "--nonce", "nonce-1")
        assert signed_in["outcome"] == "success"
        assert signed_in["factor"] == "idp"
        assert last_attempt(ledger, acme)["details"]["sso_evidence"]["issuer"] == issuer


def test_an_email_domain_signs_in_through_one_organisation_only(
    ledger: Ledger, idp: SigningIdp, acme: str, tmp_path: Path
) -> None:
    assert configure(ledger, idp, tmp_path, "idp", "--domain", "ACME.test")["domains"] == [
        "acme.test"
    ]
    ledger.ok("org", "create", "globex")
    before = ledger.event_count()

    refused = ledger.refused(
        *("org", "sso", "globex", "--idp", "evil", "--issuer", "https://evil.example"),
        *("--client-id", "x", "--mfa", "idp", "--domain", "acme.test"),
        code="domain_taken",
    )

    assert "acme.test" in refused["error"]["message"]
    assert ledger.event_count() == before
    # Once acme lets the domain go, another organisation may claim it.
    configure(ledger, idp, tmp_path, "idp")
    ledger.ok(
        *("org", "sso", "globex", "--idp", "okta", "--issuer", "https://globex.example"),
        *("--client-id", "x", "--mfa", "idp", "--domain", "acme.test"),
    )
    ledger.bad_input(
        *("org", "sso", "globex", "--idp", "okta", "--issuer", "https://globex.example"),
        *("--client-id", "x", "--mfa", "idp", "--domain", "not a domain"),
    )
