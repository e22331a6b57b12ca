"""Opening the ledger: the event-store application, our own tables and the key ring, together."""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import identity
from ledger.account import Account
from ledger.application import SecurityLedger
from ledger.checkpoints import (
    AnchorUnreadable,
    Checkpoint,
    CheckpointAnchor,
    checkpoint_message,
    latest_checkpoint,
)
from ledger.database import Database
from ledger.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    OrganisationNotFound,
    StoreNotFound,
    StoreNotInitialised,
)
from ledger.keyring import KeyRing, derive_key, load_master_key
from ledger.organisation import Organisation
from ledger.signing import (
    SigningKeyError,
    load_signing_key,
    public_key_text,
    verify_signature,
)
from ledger.snapshot_audit import drop_unauthenticated_snapshots
from ledger.store_identity import identify
from ledger.store_keys import (
    adopt,
    former_signing_key_file,
    key_places,
    key_source,
    move_former_anchor,
)
from ledger.store_location import StoreLocation

SCHEMA_SQL = Path(__file__).resolve().parent.parent / "schema.sql"
EVENT_TABLE = "ledger_events"
REQUIRED_TABLES = (
    EVENT_TABLE,
    "ledger_snapshots",
    "ledger_chain",
    "ledger_identity",
    "ledger_data_keys",
    "projection_tracking",
)


def initialise_schema(location: StoreLocation) -> None:
    """Create every table (idempotent): schema.sql on PostgreSQL, the embedded schema on SQLite."""
    database = Database(location)
    try:
        create_schema(database)
    finally:
        database.close()


def create_schema(database: Database) -> None:
    if database.postgres:
        with database.transaction() as tx:
            tx.execute_script(SCHEMA_SQL.read_text())
    else:
        assert database.location.sqlite_path is not None
        database.location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        database.create_sqlite_tables()


CHECK_THE_ADDRESS = "nothing was created. Check --db (or FLERO_LEDGER_DB) for a typo, or"
CREATE_IT = "create the ledger with `flero-ledger init` or any command that records something"


def store_not_found(where: str, problem: str, remedy: str = CREATE_IT) -> StoreNotFound:
    return StoreNotFound(where, f"{problem}: {CHECK_THE_ADDRESS} {remedy}")


def require_sqlite_ledger(location: StoreLocation) -> None:
    """Refuse (StoreNotFound), creating nothing, unless the file holds a ledger."""
    path, where = location.sqlite_path, location.where
    assert path is not None
    if not path.is_file():
        raise store_not_found(where, f"no ledger at {where}")
    # mode=rw: open what is there, never create a file (it may have gone meanwhile).
    probe = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True)
    try:
        tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master")}
    finally:
        probe.close()
    if not tables & {"ledger_chain", "stored_events"}:
        raise store_not_found(where, f"{where} is no ledger (it holds no ledger tables)")


def missing_postgres_tables(database: Database) -> list[str]:
    """The ledger tables the database lacks; a database that does not exist is StoreNotFound."""
    import psycopg

    try:
        return database.missing_tables(REQUIRED_TABLES)
    except psycopg.OperationalError as error:
        name, where = database.location.pg_dbname, database.location.where
        if f'database "{name}" does not exist' not in str(error):
            raise
    remedy = f"create it (createdb {name}) and run `flero-ledger init`"
    raise store_not_found(where, f"the database {where} does not exist", remedy)


def signed_by(key: Ed25519PrivateKey, checkpoint: Checkpoint | None) -> bool:
    if checkpoint is None:
        return False
    message = checkpoint_message(checkpoint.notification_id, checkpoint.log_hash)
    return verify_signature(public_key_text(key), checkpoint.signature, message)


def address_anchor_file_for(location: StoreLocation) -> Path:
    """Where the anchor was kept before stores had identities: named after the address."""
    key_file = former_signing_key_file(location)
    store = hashlib.sha256(location.description.encode()).hexdigest()[:12]
    return key_file.with_name(f"{key_file.name}.anchor-{store}.json")


class LedgerStore:
    """Everything a command or projection needs to reach the ledger.

    `create`: an SQLite store that is not there yet is created. A command that only reads
    passes False: then a store that does not exist is refused (StoreNotFound) and nothing is
    created, so that a mistyped address never reads as an empty ledger. A PostgreSQL store is
    only ever created by `flero-ledger init` (schema.sql).
    """

    def __init__(self, location: StoreLocation, *, create: bool = True) -> None:
        self.location = location
        if location.kind == "sqlite" and not create:
            require_sqlite_ledger(location)
        self.database = Database(location)
        self.replica: Database | None = None
        self.read_after: int | None = None
        try:
            self._open_schema(create)
            self.store_id, given_now = identify(self.database)
            self.key_places = key_places(location, self.store_id)
            move_former_anchor(self.key_places)
            master_key = self._master_key()
        except BaseException:
            self.database.close()
            raise
        self.app = SecurityLedger(
            env=location.eventsourcing_env(), snapshot_key=derive_key(master_key, "snapshots")
        )
        if given_now:
            self._upgrade()

    def _open_schema(self, create: bool) -> None:
        if self.location.kind == "sqlite":
            create_schema(self.database)  # the embedded store creates itself on first use
            return
        missing = missing_postgres_tables(self.database)
        if EVENT_TABLE in missing and not create:
            where = self.location.where
            problem = f"the database {where} holds no ledger (no {EVENT_TABLE} table)"
            raise store_not_found(where, problem, "create the ledger with `flero-ledger init`")
        if missing:
            raise StoreNotInitialised(
                f"the database has no ledger schema (missing {', '.join(missing)}); "
                "run `flero-ledger init` first"
            )

    def _master_key(self) -> bytes:
        """The master key, checked against the data keys it wraps. A store holding data is
        never given a new one; one holding data with no key of its own takes the shared key of
        before, once that key is seen to open its data keys."""
        places = self.key_places
        in_use = self._holds("ledger_data_keys") or self._holds("ledger_chain")
        source = key_source(places.master_key, places.shared_master_key, in_use=in_use)
        master_key = load_master_key(source, in_use=in_use, formerly=places.shared_master_key)
        self.keyring = KeyRing(self.database, master_key)
        self.keyring.check_master_key()
        if source != places.master_key:
            adopt(source, places.master_key)
        return master_key

    @functools.cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        """Created on first use; never once checkpoints exist. The shared key of before is
        taken only once seen to have signed this store's newest checkpoint."""
        places = self.key_places
        in_use = self._holds("ledger_checkpoints")
        source = key_source(places.signing_key, places.shared_signing_key, in_use=in_use)
        key = load_signing_key(source, in_use=in_use, formerly=places.shared_signing_key)
        if source != places.signing_key:
            if not signed_by(key, latest_checkpoint(self.database)):
                raise SigningKeyError(
                    f"{places.signing_key} is missing, and the shared {source} did not sign this "
                    "store's checkpoints; restore the store's own signing key"
                )
            adopt(source, places.signing_key)
        return key

    def _holds(self, table: str) -> bool:
        with self.database.transaction() as tx:
            return tx.fetchone(f"SELECT 1 FROM {table} LIMIT 1") is not None  # noqa: S608

    def _upgrade(self) -> None:
        """A store recorded before stores had identities keeps its anchor: the file its address
        named if there is one, else its newest checkpoint (trusted on this first use). Its
        snapshots, taken before they were authenticated, are dropped: they could not be trusted.
        A new store has no events, and nothing to carry over (an anchor its address named
        would be another, earlier store's)."""
        if not self.head_position():
            return
        try:
            kept = CheckpointAnchor(address_anchor_file_for(self.location)).read()
        except AnchorUnreadable:
            kept = None
        kept = kept or latest_checkpoint(self.database)
        if kept is not None:
            self.checkpoint_anchor.write(kept)
        drop_unauthenticated_snapshots(self.app, self.database, self.snapshot_table)

    def summary(self) -> dict[str, Any]:
        """Where the store and its keys are, and how many events it holds."""
        return {
            "store": self.location.kind,
            "location": self.location.where,
            "store_id": str(self.store_id),
            "events": self.event_count(),
            "keys": self.key_places.shown(),
        }

    @functools.cached_property
    def checkpoint_anchor(self) -> CheckpointAnchor:
        return CheckpointAnchor(self.key_places.anchor)

    @property
    def signing_public_key(self) -> str:
        return public_key_text(self.signing_key)

    def read_from_replica(self, location: StoreLocation, after: int | None) -> None:
        """Let queries read the read models from a streaming replica (`--read-db`), once it has
        reached position `after` when given (projections.catalogue.read_models_of)."""
        self.replica = Database(location)
        self.read_after = after

    def close(self) -> None:
        self.app.close()
        self.database.close()
        if self.replica is not None:
            self.replica.close()

    # ---- finding aggregates --------------------------------------------------------------

    # An address's accounts are generations (ledger.identity): each but the newest is erased.

    def accounts_of(self, email: str) -> list[Account]:
        """Every account the address has had, oldest first: the next generation is looked for
        only after an erased one."""
        lookup = self.keyring.lookup_hash(email)
        accounts: list[Account] = []
        while (not accounts or accounts[-1].erased) and (
            found := self.app.find_account(identity.account_id(lookup, len(accounts)))
        ) is not None:
            accounts.append(found)
        return accounts

    def newest_account(self, email: str) -> Account | None:
        """The live account, else the last one erased, else None."""
        accounts = self.accounts_of(email)
        return accounts[-1] if accounts else None

    def live_account(self, email: str) -> Account | None:
        newest = self.newest_account(email)
        return newest if newest is not None and not newest.erased else None

    def account(self, email: str) -> Account:
        """A live account; an erased one is gone as far as any command is concerned."""
        account = self.live_account(email)
        if account is None:
            raise AccountNotFound(email)
        return account

    def new_account_id(self, email: str) -> UUID:
        """The id a new account for the address takes: the generation after the erased ones."""
        accounts = self.accounts_of(email)
        if accounts and not accounts[-1].erased:
            raise AccountAlreadyExists(email)
        return identity.account_id(self.keyring.lookup_hash(email), len(accounts))

    def account_id(self, email: str) -> UUID:
        """The id of the address's newest account, live or erased (its history stays readable
        by the address until the address opens another); the first one's if it has had none.
        Found in the chain's index, without loading an account: queries ask it on every call."""
        lookup = self.keyring.lookup_hash(email)
        generation = 0
        while self._stream_exists(identity.account_id(lookup, generation + 1)):
            generation += 1
        return identity.account_id(lookup, generation)

    def _stream_exists(self, stream_id: UUID) -> bool:
        (first,) = self.database.reads(
            (
                "SELECT 1 FROM ledger_chain WHERE originator_id = ? AND originator_version = 1",
                (str(stream_id),),
            )
        )
        return bool(first)

    def organisation(self, slug: str) -> Organisation:
        org = self.app.find_organisation(identity.organisation_id(slug))
        if org is None:
            raise OrganisationNotFound(slug)
        return org

    @property
    def event_table(self) -> str:
        return EVENT_TABLE if self.location.kind == "postgresql" else "stored_events"

    @property
    def snapshot_table(self) -> str:
        return "ledger_snapshots" if self.location.kind == "postgresql" else "stored_snapshots"

    @property
    def event_position(self) -> str:
        """The event table's column holding each event's position in the log."""
        return "notification_id" if self.location.kind == "postgresql" else "rowid"

    def head_position(self) -> int:
        """The newest readable event's position in the log (0: none). Not a count: positions
        drawn by an append that failed are never used (PostgreSQL)."""
        return self.app.recorder.max_notification_id() or 0

    def event_count(self) -> int:
        """How many events the ledger holds."""
        with self.database.transaction() as tx:
            row = tx.fetchone(f"SELECT COUNT(*) FROM {self.event_table}")  # noqa: S608
        return int(row[0]) if row else 0
