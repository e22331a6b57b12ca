"""Where a store's keys live: its master key, its signing key and its checkpoint anchor.

SQLite: beside the database file (`PATH.master-key`, `PATH.signing-key`, and the anchor; with
the signing key held in the environment, the anchor goes to the store's own directory below).
PostgreSQL: in a directory of the store's own in the user's data directory, named by the
store's identity (store_identity.py), whatever address reaches it:
`$XDG_DATA_HOME/flero-ledger/stores/STORE_ID/` (`master.key`, `signing.key`, the anchor).
FLERO_LEDGER_KEY_FILE, FLERO_LEDGER_SIGNING_KEY_FILE and FLERO_LEDGER_ANCHOR_DIR override each;
FLERO_LEDGER_MASTER_KEY and FLERO_LEDGER_SIGNING_KEY hold the keys themselves instead.

Every PostgreSQL store used to share one `master.key` and one `signing.key` in
`$XDG_DATA_HOME/flero-ledger/`, the anchors beside them. A store that already holds data and
has no key of its own takes the shared one once it is proven to be its own (it opens the data
keys, it signed the checkpoints): the file is copied into the store's directory, and stays
where it was for the other databases that use it. A new store never takes it: it gets keys of
its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from ledger.keyring import MASTER_KEY_ENV
from ledger.private_files import open_private
from ledger.signing import SIGNING_KEY_ENV
from ledger.store_location import StoreLocation, default_sqlite_path

KEY_FILE_ENV = "FLERO_LEDGER_KEY_FILE"
SIGNING_KEY_FILE_ENV = "FLERO_LEDGER_SIGNING_KEY_FILE"
ANCHOR_DIR_ENV = "FLERO_LEDGER_ANCHOR_DIR"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyPlaces:
    """The files a store's keys are read from (or created in), and, for a PostgreSQL store,
    the shared files of before (None when nothing was ever shared there); and where an anchor
    kept before would be, to be moved into its place."""

    master_key: Path
    signing_key: Path
    anchor: Path
    shared_master_key: Path | None = None
    shared_signing_key: Path | None = None
    former_anchor: Path | None = None

    def shown(self) -> dict[str, str | None]:
        """The absolute paths, as `init` and `info` print them; a key kept in the environment
        instead of its file is None."""

        def file(path: Path, instead: str) -> str | None:
            return None if os.environ.get(instead) else str(path.absolute())

        return {
            "master_key_file": file(self.master_key, MASTER_KEY_ENV),
            "signing_key_file": file(self.signing_key, SIGNING_KEY_ENV),
            "anchor_file": str(self.anchor.absolute()),
        }


def key_places(location: StoreLocation, store_id: UUID) -> KeyPlaces:
    data_dir = default_sqlite_path().parent
    if location.sqlite_path is not None:
        beside = location.sqlite_path
        master = beside.with_name(beside.name + ".master-key")
        signing = beside.with_name(beside.name + ".signing-key")
        shared_master = shared_signing = None
    else:
        own = data_dir / "stores" / str(store_id)
        master, signing = own / "master.key", own / "signing.key"
        shared_master, shared_signing = data_dir / "master.key", data_dir / "signing.key"
    if os.environ.get(KEY_FILE_ENV):
        master, shared_master = Path(os.environ[KEY_FILE_ENV]), None
    if os.environ.get(SIGNING_KEY_FILE_ENV):
        signing, shared_signing = Path(os.environ[SIGNING_KEY_FILE_ENV]), None
    # Beside the signing key's file, away from the database. A key held in the environment has
    # no file: its anchor goes to the store's own directory in the user's data directory (it
    # used to stay beside an SQLite database, where whoever rewrites the database reaches it).
    anchor_name = f"flero-ledger-anchor-{store_id}.json"
    anchor_dir = os.environ.get(ANCHOR_DIR_ENV)
    key_dir = data_dir / "stores" / str(store_id) if os.environ.get(SIGNING_KEY_ENV) else None
    default_dir = key_dir or signing.parent
    anchor = Path(anchor_dir or default_dir) / anchor_name
    # Where an anchor kept before is moved from: its default place, for one the operator moves;
    # beside the database, for a key held in the environment; beside the shared signing key.
    former_anchor = None
    if anchor_dir:
        former_anchor = default_dir / anchor_name
    elif default_dir != signing.parent:
        former_anchor = signing.parent / anchor_name
    elif shared_signing is not None:
        former_anchor = shared_signing.parent / anchor_name
    # A key given in the environment is the key: no file is taken instead.
    if os.environ.get(MASTER_KEY_ENV):
        shared_master = None
    if os.environ.get(SIGNING_KEY_ENV):
        shared_signing = None
    return KeyPlaces(master, signing, anchor, shared_master, shared_signing, former_anchor)


def former_signing_key_file(location: StoreLocation) -> Path:
    """Where the signing key was looked for before stores had identities."""
    if os.environ.get(SIGNING_KEY_FILE_ENV):
        return Path(os.environ[SIGNING_KEY_FILE_ENV])
    if location.sqlite_path is not None:
        return location.sqlite_path.with_name(location.sqlite_path.name + ".signing-key")
    return default_sqlite_path().with_name("signing.key")


def key_source(own: Path, shared: Path | None, *, in_use: bool) -> Path:
    """The file to read a key from: the store's own; the shared one of before only for a store
    that already holds data and has none of its own (then `adopt` it once proven)."""
    if own.exists() or not in_use or shared is None or not shared.exists():
        return own
    return shared


def adopt(shared: Path, own: Path) -> None:
    """Copy a shared key, proven to be this store's, into the store's own place."""
    own.parent.mkdir(parents=True, exist_ok=True)
    content = shared.read_bytes()
    # Another process may have adopted it first.
    with contextlib.suppress(FileExistsError), open_private(own) as file:
        file.write(content)
    if own.read_bytes() != content:
        raise FileExistsError(f"{own} appeared meanwhile, holding another key; left as it is")
    log.warning(
        "this store's key was in %s, shared by every PostgreSQL store; it is now copied to "
        "the store's own %s (the shared file stays, for other databases that use it)",
        shared,
        own,
    )


def move_former_anchor(places: KeyPlaces) -> None:
    """The anchor kept where it was before (`key_places`), named by this store's identity,
    moves into its place (as it is: a damaged one is still a finding there)."""
    former = places.former_anchor
    if former is None or former == places.anchor or places.anchor.exists() or not former.exists():
        return
    places.anchor.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(former, places.anchor)
    log.warning("moved this store's checkpoint anchor from %s to %s", former, places.anchor)
