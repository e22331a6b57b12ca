"""Password hashing with argon2id; the password itself never reaches an event or a log.

The parameters are OWASP's recommended minimum for argon2id: 19 MiB of memory, 2 passes, one
lane. argon2-cffi's defaults (64 MiB, 3 passes, 4 lanes) cost several times more on one core
for little more resistance, and every wrong password or unknown address an attacker sends
burns that cost too. A hash made with other parameters still verifies, and is replaced at the
account's next successful sign-in (`needs_rehash`).
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MEMORY_KIB = 19 * 1024
PASSES = 2
LANES = 1
_hasher = PasswordHasher(time_cost=PASSES, memory_cost=MEMORY_KIB, parallelism=LANES)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def verify_against_decoy(password: str) -> None:
    """Spend exactly what checking a real password costs, for an address with no account.

    The decoy is hashed with the hasher's current parameters, so the cost always matches."""
    verify_password(_decoy_hash(_hasher), password)


@functools.cache
def _decoy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("no account has this password")
