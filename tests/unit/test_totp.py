"""RFC 6238 matching: which time step a code belongs to, within one step of drift."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from ledger import totp

NOW = datetime(2026, 11, 14, 9, 0, 10, tzinfo=UTC)


def test_a_new_secret_carries_160_bits() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_codes_within_one_step_match_their_own_step(drift: int) -> None:
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(NOW + timedelta(seconds=30 * drift))
    assert totp.match_step(secret, code, NOW) == totp.time_step(NOW) + drift


@pytest.mark.parametrize("drift", [-2, 2, 10])
def test_codes_further_away_do_not_match(drift: int) -> None:
    secret = totp.new_secret()
    code = pyotp.TOTP(secret).at(NOW + timedelta(seconds=30 * drift))
    assert totp.match_step(secret, code, NOW) is None


def test_another_secrets_code_does_not_match() -> None:
    code = pyotp.TOTP(totp.new_secret()).at(NOW)
    assert totp.match_step(totp.new_secret(), code, NOW) is None


def test_the_provisioning_uri_names_flero_and_the_account() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "ada@acme.test")
    assert uri == (
        "otpauth://totp/Flero:ada%40acme.test?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Flero"
    )
