"""The ledger's Ed25519 signing key: it signs checkpoints and export manifests.

Kept apart from the master (encryption) key: from FLERO_LEDGER_SIGNING_KEY (a base64 32-byte
seed) or a 0600 key file beside the database. An auditor needs only the public key.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNING_KEY_ENV = "FLERO_LEDGER_SIGNING_KEY"


class SigningKeyError(Exception):
    pass


def load_signing_key(key_file: Path) -> Ed25519PrivateKey:
    encoded = os.environ.get(SIGNING_KEY_ENV) or _read_or_create(key_file)
    try:
        seed = base64.b64decode(encoded.strip(), validate=True)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise SigningKeyError("the signing key must be a base64 32-byte Ed25519 seed") from None


def _read_or_create(path: Path) -> str:
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise SigningKeyError(f"{path} is readable by others; chmod 600 it")
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.b64encode(secrets.token_bytes(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(encoded + "\n")
    return encoded


def public_key_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def verify_signature(public_key: str, signature: bytes, message: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
