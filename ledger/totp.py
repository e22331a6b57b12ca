"""TOTP per RFC 6238: 6 digits, 30-second steps, one step of drift either way.

`match_step` only finds which time step a code belongs to; the account decides whether that
step was already used (a step is never accepted twice).
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DRIFT_STEPS = 1
SECRET_BASE32_LENGTH = 32  # 160 bits


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_BASE32_LENGTH)


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Flero")


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def match_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step (within ±1 of `at`) whose code equals `code`, or None.

    Every candidate is compared in constant time, and all of them are compared.
    """
    totp = pyotp.TOTP(secret)
    current = time_step(at)
    matched: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code) and matched is None:
            matched = step
    return matched
