"""Field encryption: personal data and secrets are sealed before they enter an event.

Each account has its own data key (AES-256-GCM), kept outside the event table and wrapped
with the master key. A sealed value names the account whose key sealed it, so it can be opened
without knowing where it came from. Destroying an account's data key (crypto-shredding) makes
every value sealed with it unreadable while the events themselves stay untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.database import Database
from ledger.errors import LedgerError
from ledger.key_files import KeyFileError, read_or_create_key_file

MASTER_KEY_ENV = "FLERO_LEDGER_MASTER_KEY"
SEALED_PREFIX = "sealed:v1:"
# Values opened last, kept: a rebuild opens each sign-in's client once per read model.
OPENED_KEPT = 64


class Sealer(Protocol):
    """What an aggregate needs to keep secrets: seal for an owner, open, keyed hashing."""

    def seal(self, owner: UUID, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str | None: ...

    def keyed_hash(self, owner: UUID, value: str) -> str: ...


class MasterKeyError(Exception):
    pass


def load_master_key(
    key_file: Path | None, *, in_use: bool = False, formerly: Path | None = None
) -> bytes:
    """The master key from FLERO_LEDGER_MASTER_KEY (base64), else from a 0600 key file.

    The key file is created on first use (store_keys.py says where); never again once the
    store holds data wrapped by it (`in_use`).
    """
    encoded = os.environ.get(MASTER_KEY_ENV)
    if not encoded:
        if key_file is None:
            raise MasterKeyError(f"set {MASTER_KEY_ENV} (32 bytes, base64) for this store")
        try:
            encoded = read_or_create_key_file(
                key_file, in_use="data keys" if in_use else None, formerly=formerly
            )
        except KeyFileError as error:
            raise MasterKeyError(str(error)) from None
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise MasterKeyError("the master key is not valid base64") from None
    if len(key) != 32:
        raise MasterKeyError("the master key must be 32 bytes")
    return key


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A key of its own for each use of the master key (e-mail lookup, snapshots)."""
    return hmac.digest(master_key, f"flero-ledger/{purpose}".encode(), "sha256")


class KeyRing:
    """Per-account data keys, wrapped by the master key, stored in `ledger_data_keys`."""

    def __init__(self, database: Database, master_key: bytes) -> None:
        self._db = database
        self._master = AESGCM(master_key)
        self._lookup_key = derive_key(master_key, "lookup")
        self._keys: dict[UUID, bytes | None] = {}
        self._destroyed: set[UUID] = set()
        self._opened: dict[str, str] = {}  # sealed -> plaintext; emptied when a key is destroyed

    def check_master_key(self) -> None:
        """Refuse a master key other than the one this store's data keys are wrapped by: under
        a wrong key nobody would be found, and new data would be sealed apart from the old."""
        with self._db.transaction() as tx:
            row = tx.fetchone(
                "SELECT owner_id, wrapped_key FROM ledger_data_keys WHERE wrapped_key <> ? LIMIT 1",
                (b"",),
            )
        if row is not None:
            self._unwrap(UUID(row[0]), bytes(row[1]))

    def lookup_hash(self, value: str) -> str:
        """A keyed, deterministic digest used to find an account by e-mail without storing it."""
        return hmac.digest(self._lookup_key, value.encode(), "sha256").hex()

    def seal(self, owner: UUID, plaintext: str) -> str:
        """Encrypt for `owner`. For an erased owner nothing is kept: the value is born erased."""
        key = self._data_key(owner, create=True)
        if key is None:
            return f"{SEALED_PREFIX}{owner.hex}:"
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), owner.bytes)
        return f"{SEALED_PREFIX}{owner.hex}:{base64.b64encode(nonce + ciphertext).decode()}"

    def open(self, sealed: str) -> str | None:
        """The plaintext, or None when the owner's key was destroyed (erased)."""
        opened = self._opened.get(sealed)
        if opened is None:
            opened = self._decrypt(sealed)
            if opened is not None:
                if len(self._opened) >= OPENED_KEPT:
                    self._opened.clear()
                self._opened[sealed] = opened
        return opened

    def _decrypt(self, sealed: str) -> str | None:
        owner_hex, _, payload = sealed.removeprefix(SEALED_PREFIX).partition(":")
        owner = UUID(owner_hex)
        key = self._data_key(owner, create=False)
        if key is None or not payload:
            return None
        raw = base64.b64decode(payload)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], owner.bytes).decode()
        except InvalidTag:
            return None  # sealed under a key that no longer exists

    def keyed_hash(self, owner: UUID, value: str) -> str:
        """HMAC of a short secret (an SMS code) under the owner's data key."""
        key = self._data_key(owner, create=True)
        if key is None:
            raise LedgerError("this account was erased")
        return hmac.digest(key, value.encode(), hashlib.sha256).hex()

    def destroy(self, owner: UUID) -> None:
        """Crypto-shredding: every value sealed for `owner` becomes unreadable, for good.

        A tombstone (an empty wrapped key) stays, so that no new key is ever made for `owner`.
        The wrapped key is gone from the files only once the caller purges the freed space.
        """
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO ledger_data_keys (owner_id, wrapped_key) VALUES (?, ?) "
                "ON CONFLICT (owner_id) DO UPDATE SET wrapped_key = excluded.wrapped_key",
                (str(owner), b""),
            )
        self._keys[owner] = None
        self._destroyed.add(owner)
        self._opened.clear()

    def _data_key(self, owner: UUID, create: bool) -> bytes | None:
        """The owner's key; a new one if `create` and there never was one; None if destroyed."""
        if owner in self._keys:
            cached = self._keys[owner]
            if cached is not None or not create or owner in self._destroyed:
                return cached
        with self._db.transaction() as tx:
            row = tx.fetchone(
                "SELECT wrapped_key FROM ledger_data_keys WHERE owner_id = ?", (str(owner),)
            )
            if row is None and create:
                key = AESGCM.generate_key(bit_length=256)
                tx.execute(
                    "INSERT INTO ledger_data_keys (owner_id, wrapped_key) VALUES (?, ?) "
                    "ON CONFLICT (owner_id) DO NOTHING",
                    (str(owner), self._wrap(owner, key)),
                )
                row = tx.fetchone(
                    "SELECT wrapped_key FROM ledger_data_keys WHERE owner_id = ?", (str(owner),)
                )
        wrapped = None if row is None else bytes(row[0])
        if wrapped == b"":
            self._destroyed.add(owner)
        unwrapped = self._unwrap(owner, wrapped) if wrapped else None
        self._keys[owner] = unwrapped
        return unwrapped

    def _wrap(self, owner: UUID, key: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._master.encrypt(nonce, key, owner.bytes)

    def _unwrap(self, owner: UUID, wrapped: bytes) -> bytes:
        try:
            return self._master.decrypt(wrapped[:12], wrapped[12:], owner.bytes)
        except InvalidTag:
            raise MasterKeyError(
                "the master key does not open this store's data keys (is it the right key?)"
            ) from None
