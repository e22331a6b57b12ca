"""Password hashing with argon2id; the password itself never reaches an event or a log."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_against_decoy(password: str) -> None:
    """Spend exactly what checking a real password costs, for an address with no account.

    The decoy is hashed with the hasher's current parameters, so the cost always matches."""
    verify_password(_decoy_hash(_hasher), password)


@functools.cache
def _decoy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("no account has this password")
