"""ID-token verification in memory: every published algorithm, and the evidence kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from joserfc.jwk import ECKey, OKPKey

from ledger.id_tokens import Expectations, InvalidIdToken, key_id, token_hash, verify
from tests.identity_provider import CLIENT_ID, ISSUER, SigningIdp, public_keys, rsa_key

AT = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)
EXPECT = Expectations(ISSUER, CLIENT_ID, AT, nonce="n-1")


@pytest.mark.parametrize(
    "key",
    [
        rsa_key("rsa"),
        ECKey.generate_key("P-256", {"kid": "ec"}),
        OKPKey.generate_key("Ed25519", {"kid": "ed"}),
    ],
    ids=["RS256", "ES256", "EdDSA"],
)
def test_every_algorithm_a_provider_publishes_verifies(key: object) -> None:
    idp = SigningIdp(keys=[key])  # type: ignore[list-item]
    token = idp.token(AT, "ada@acme.test", nonce="n-1", jti="j-1", acr="mfa")

    verified = verify(token, public_keys(idp), EXPECT)

    assert (verified.subject, verified.email, verified.email_verified) == (
        "sub-ada@acme.test",
        "ada@acme.test",
        True,
    )
    assert verified.asserts_mfa
    assert verified.replay_key == "jti:j-1"
    assert verified.token_hash == token_hash(token)
    assert key_id(token) == key.kid  # type: ignore[attr-defined]


def test_a_token_without_jti_is_known_by_its_hash_and_amr_pwd_is_not_mfa() -> None:
    idp = SigningIdp()
    token = idp.token(AT, "ada@acme.test", nonce="n-1", amr=["pwd"])

    verified = verify(token, public_keys(idp), EXPECT)

    assert verified.replay_key == f"sha256:{token_hash(token)}"
    assert not verified.asserts_mfa


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c", "x" * 20_000, "é.é.é"])
def test_junk_is_malformed(junk: str) -> None:
    with pytest.raises(InvalidIdToken) as refused:
        verify(junk, public_keys(SigningIdp()), EXPECT)
    assert refused.value.what == "malformed"
