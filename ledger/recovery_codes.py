"""Recovery codes: ten single-use codes of 60 bits each, easy to read aloud and type.

A set shares one random salt, so checking an attempt costs one KDF computation (argon2id),
then a constant-time comparison against every remaining hash.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

CODES_PER_SET = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
GROUPS, GROUP_LENGTH = 3, 4  # 12 symbols x 5 bits = 60 bits
_CONFUSABLE = str.maketrans({"o": "0", "i": "1", "l": "1"})


@dataclass(frozen=True)
class RecoveryCodeSet:
    codes: list[str]  # shown to the user once
    salt: str
    hashes: list[str]


def normalise(code: str) -> str:
    """`ABCD-efgh ijkm` -> `abcdefghijkm`, with look-alike letters read as digits."""
    kept = "".join(ch for ch in code.lower() if ch not in "- ")
    return kept.translate(_CONFUSABLE)


def is_well_formed(code: str) -> bool:
    plain = normalise(code)
    return len(plain) == GROUPS * GROUP_LENGTH and all(ch in ALPHABET for ch in plain)


def kdf(code: str, salt_hex: str) -> str:
    digest = hash_secret_raw(
        normalise(code).encode(),
        bytes.fromhex(salt_hex),
        time_cost=1,  # the codes carry 60 random bits: the KDF is a speed bump, not the wall
        memory_cost=8 * 1024,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
    )
    return digest.hex()


def generate_set() -> RecoveryCodeSet:
    salt = secrets.token_hex(16)
    codes = []
    for _ in range(CODES_PER_SET):
        symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
        codes.append(
            "-".join(symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH))
        )
    return RecoveryCodeSet(codes=codes, salt=salt, hashes=[kdf(c, salt) for c in codes])


def find_match(code: str, salt: str, hashes: list[str]) -> str | None:
    """The stored hash `code` matches, or None. Compares against every hash."""
    attempt = kdf(code, salt)
    matched: str | None = None
    for stored in hashes:
        if hmac.compare_digest(attempt, stored) and matched is None:
            matched = stored
    return matched
