"""The ledger's Ed25519 signing key: it signs checkpoints and export manifests.

Kept apart from the master (encryption) key: from FLERO_LEDGER_SIGNING_KEY (a base64 32-byte
seed) or a 0600 key file (store_keys.py says where). An auditor needs only the public key.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.key_files import KeyFileError, read_or_create_key_file

SIGNING_KEY_ENV = "FLERO_LEDGER_SIGNING_KEY"


class SigningKeyError(Exception):
    pass


def load_signing_key(
    key_file: Path, *, in_use: bool = False, formerly: Path | None = None
) -> Ed25519PrivateKey:
    """The checkpoint signing key; created on first use, never once checkpoints exist."""
    try:
        encoded = os.environ.get(SIGNING_KEY_ENV) or read_or_create_key_file(
            key_file, in_use="signed checkpoints" if in_use else None, formerly=formerly
        )
    except KeyFileError as error:
        raise SigningKeyError(str(error)) from None
    try:
        seed = base64.b64decode(encoded.strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise SigningKeyError("the signing key must be a base64 32-byte Ed25519 seed") from None


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def parse_public_key(text: str) -> str:
    """A base64 Ed25519 public key (32 bytes), as `info` prints it; ValueError otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ValueError(
            "not an Ed25519 public key in base64 (32 bytes), as `info` prints it"
        ) from None
    return base64.b64encode(raw).decode()


def verify_signature(public_key: str, signature: bytes, message: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
