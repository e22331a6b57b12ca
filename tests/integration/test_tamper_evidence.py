"""Tamper evidence: whoever rewrites the database behind the ledger's back is found out.

The attacker here has write access to the database (on PostgreSQL, enough to switch off the
append-only triggers, as a superuser can) and knows how the hash chain is computed, but does
not have the Ed25519 signing key. `verify --store` must name what was done and where.
"""

from __future__ import annotations

import base64
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
import pyotp
import pytest
from argon2 import PasswordHasher, profiles
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from commands.services import Services
from commands.workspaces import GrantWorkspace, grant_workspace
from ledger import passwords
from ledger.chain import GENESIS, indexed_as_usual, link
from ledger.checkpoints import CHECKPOINT_EVERY, checkpoint_message, fold
from ledger.clock import parse_stored_instant, stored_instant
from ledger.database import Transaction
from ledger.errors import VerificationIncomplete
from ledger.integrity import verify_store
from ledger.keyring import derive_key
from ledger.signing import public_key_text, verify_signature
from ledger.snapshots import SnapshotSeal
from ledger.store import LedgerStore
from tests.conftest import Ledger

ADMIN = "admin@acme.test"
ADA = "ada@acme.test"
GRACE = "grace@acme.test"
PASSWORD = "correct-horse-battery"
IP = "81.2.69.160"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# Plus the event and snapshot tables, named per store.
LEDGER_TABLES = ("ledger_chain", "ledger_checkpoints", "ledger_identity")


# ---- what the attacker sees and does -------------------------------------------------------


@dataclass(frozen=True)
class StoredRow:
    """One row of the event table, as stored."""

    notification_id: int
    raw_originator_id: Any  # as the table holds it: hex text on SQLite, uuid on PostgreSQL
    version: int
    topic: str
    state: bytes

    @property
    def stream(self) -> UUID:
        return UUID(str(self.raw_originator_id))

    @property
    def named(self) -> str:
        """How `verify` names this event."""
        return f"at event {self.notification_id} (stream {self.stream} version {self.version})"

    @property
    def kind(self) -> str:
        return self.topic.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class SnapshotRow:
    """One row of the snapshot table, as stored."""

    raw_originator_id: Any
    version: int
    topic: str
    state: bytes


class Attacker:
    """Direct database access: reads and rewrites the event, chain, checkpoint, snapshot and
    identity tables."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.postgres = store.database.postgres
        self.events_table = store.event_table
        self.snapshots_table = store.snapshot_table
        # The library's SQLite recorder keeps the notification id as the row id.
        self.position = "notification_id" if self.postgres else "rowid"

    # -- reading --

    def events(self) -> list[StoredRow]:
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                f"SELECT {self.position}, originator_id, originator_version, topic, state "
                f"FROM {self.events_table} ORDER BY {self.position}"
            )
        return [StoredRow(int(n), o, int(v), str(t), bytes(s)) for n, o, v, t, s in rows]

    def stream(self, stream: UUID) -> list[StoredRow]:
        return [row for row in self.events() if row.stream == stream]

    def event(self, stream: UUID, kind: str, containing: bytes = b"") -> StoredRow:
        """The first event of `kind` in `stream` whose state contains `containing`."""
        return next(
            row for row in self.stream(stream) if row.kind == kind and containing in row.state
        )

    def links(self) -> list[tuple[int, bytes]]:
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT notification_id, chain_hash FROM ledger_chain ORDER BY notification_id"
            )
        return [(int(n), bytes(h)) for n, h in rows]

    def time_index(self, row: StoredRow) -> tuple[Any, Any]:
        """The event's (recorded_at, subject_id), as the chain row holds them."""
        with self.store.database.transaction() as tx:
            found = tx.fetchone(
                "SELECT recorded_at, subject_id FROM ledger_chain WHERE notification_id = ?",
                (row.notification_id,),
            )
        assert found is not None
        return found[0], found[1]

    def filed_under(self, account: UUID) -> list[StoredRow]:
        """The events of other streams that the time index files under `account`."""
        return [row for row in self.events() if self.time_index(row)[1] == str(account)]

    def snapshots(self, stream: UUID) -> list[SnapshotRow]:
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT originator_id, originator_version, topic, state "
                f"FROM {self.snapshots_table} ORDER BY originator_version"
            )
        found = [SnapshotRow(o, int(v), str(t), bytes(s)) for o, v, t, s in rows]
        return [row for row in found if UUID(str(row.raw_originator_id)) == stream]

    def checkpoints(self) -> list[tuple[int, bytes, bytes]]:
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT notification_id, log_hash, signature FROM ledger_checkpoints "
                "ORDER BY notification_id"
            )
        return [(int(n), bytes(h), bytes(s)) for n, h, s in rows]

    # -- writing, with the append-only triggers switched off on PostgreSQL --

    @contextmanager
    def writing(self) -> Iterator[Transaction]:
        """One transaction with the triggers off (and back on before it commits, as a careful
        attacker leaves them)."""
        tables = (self.events_table, self.snapshots_table, *LEDGER_TABLES)
        with self.store.database.transaction() as tx:
            if self.postgres:
                tx.execute("SET LOCAL lock_timeout = '10s'")
                for table in tables:
                    tx.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield tx
            if self.postgres:
                for table in tables:
                    tx.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

    def set_state(self, row: StoredRow, state: bytes) -> None:
        with self.writing() as tx:
            tx.execute(
                f"UPDATE {self.events_table} SET state = ? WHERE {self.position} = ?",
                (state, row.notification_id),
            )

    def delete_events(self, *rows: StoredRow, with_links: bool = False) -> None:
        with self.writing() as tx:
            for row in rows:
                tx.execute(
                    f"DELETE FROM {self.events_table} WHERE {self.position} = ?",
                    (row.notification_id,),
                )
                if with_links:
                    tx.execute(
                        "DELETE FROM ledger_chain WHERE notification_id = ?",
                        (row.notification_id,),
                    )

    def insert_event(self, raw_originator_id: Any, version: int, topic: str, state: bytes) -> int:
        """A forged event appended to the table; returns the notification id it got."""
        with self.writing() as tx:
            tx.execute(
                f"INSERT INTO {self.events_table} "
                "(originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                (raw_originator_id, version, topic, state),
            )
            row = tx.fetchone(f"SELECT MAX({self.position}) FROM {self.events_table}")
        assert row is not None
        return int(row[0])

    def set_time_index(self, row: StoredRow, recorded_at: Any, subject_id: Any) -> None:
        """Rewrite the event's time index (no hash covers it)."""
        with self.writing() as tx:
            tx.execute(
                "UPDATE ledger_chain SET recorded_at = ?, subject_id = ? WHERE notification_id = ?",
                (recorded_at, subject_id, row.notification_id),
            )

    def move_in_time(self, row: StoredRow, delta: timedelta) -> tuple[str, str]:
        """Move the event in the time index by `delta`: (where it was, where it is now)."""
        recorded_at, subject_id = self.time_index(row)
        moved = stored_instant(parse_stored_instant(recorded_at) + delta)
        self.set_time_index(row, moved, subject_id)
        return recorded_at, moved

    def swap_versions(self, first: StoredRow, second: StoredRow) -> None:
        """Move two events of a stream past each other (through a free version number)."""
        parked = -1
        with self.writing() as tx:
            for row, version in ((first, parked), (second, first.version), (first, second.version)):
                tx.execute(
                    f"UPDATE {self.events_table} SET originator_version = ? "
                    f"WHERE {self.position} = ?",
                    (version, row.notification_id),
                )

    def relink_stream_from(self, row: StoredRow) -> None:
        """The strong attacker: recompute this event's chain link and every later one of its
        stream from the rows as they now are, and store them."""
        rows = self.stream(row.stream)
        with self.store.database.transaction() as tx:
            found = tx.fetchone(
                "SELECT chain_hash FROM ledger_chain WHERE originator_id = ? "
                "AND originator_version = ?",
                (str(row.stream), row.version - 1),
            )
        previous = GENESIS if found is None else bytes(found[0])
        with self.writing() as tx:
            for later in (r for r in rows if r.version >= row.version):
                previous = link(previous, later.stream, later.version, later.topic, later.state)
                tx.execute(
                    "UPDATE ledger_chain SET chain_hash = ? WHERE notification_id = ?",
                    (previous, later.notification_id),
                )

    def put_snapshot(self, row: SnapshotRow) -> None:
        """Store `row` in place of the snapshot of that version, by DELETE and INSERT: no
        trigger refuses either (snapshots are a cache)."""
        with self.store.database.transaction() as tx:
            tx.execute(
                f"DELETE FROM {self.snapshots_table} "
                "WHERE originator_id = ? AND originator_version = ?",
                (row.raw_originator_id, row.version),
            )
            tx.execute(
                f"INSERT INTO {self.snapshots_table} "
                "(originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
                (row.raw_originator_id, row.version, row.topic, row.state),
            )

    def set_store_id(self, store_id: str) -> None:
        """Give the store another identity: its anchor is then looked for under another name."""
        with self.writing() as tx:
            tx.execute("UPDATE ledger_identity SET store_id = ?", (store_id,))

    def add_checkpoint(self, notification_id: int, log_hash: bytes, signature: bytes) -> None:
        with self.writing() as tx:
            tx.execute(
                "INSERT INTO ledger_checkpoints (notification_id, log_hash, signed_at, signature) "
                "VALUES (?, ?, ?, ?)",
                (notification_id, log_hash, "2026-11-14T10:00:00.000000Z", signature),
            )

    def replace_signature(self, notification_id: int, signature: bytes) -> None:
        with self.writing() as tx:
            tx.execute(
                "UPDATE ledger_checkpoints SET signature = ? WHERE notification_id = ?",
                (signature, notification_id),
            )


def unlinked_events(attacker: Attacker) -> list[int]:
    """Events whose stored chain link differs from the one recomputed from the rows."""
    stored = dict(attacker.links())
    previous: dict[UUID, bytes] = {}
    mismatched = []
    for row in attacker.events():
        recomputed = link(
            previous.get(row.stream, GENESIS), row.stream, row.version, row.topic, row.state
        )
        previous[row.stream] = recomputed
        if stored.get(row.notification_id) != recomputed:
            mismatched.append(row.notification_id)
    return mismatched


def log_hash_up_to(links: list[tuple[int, bytes]], last: int) -> bytes:
    """The log hash a checkpoint at `last` signs, folded from the chain links."""
    log_hash = bytes(32)
    for notification_id, chain_hash in links:
        if notification_id > last:
            break
        log_hash = fold(log_hash, notification_id, chain_hash)
    return log_hash


# ---- the history under attack --------------------------------------------------------------


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tamper evidence does not depend on argon2's cost; sign-ins stay real, only cheaper."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


def sign_in(ledger: Ledger, email: str, *second_factor: str) -> None:
    result = ledger.ok(
        "login", email, "--method", "password", "--password-stdin",
        "--ip", IP, "--user-agent", USER_AGENT, *second_factor,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result["outcome"] == "success"


def grant(ledger: Ledger, email: str, workspace: str, role: str) -> None:
    ledger.ok("workspace", "grant", email, workspace, "--role", role, "--actor", ADMIN)


@dataclass(frozen=True)
class History:
    attacker: Attacker
    ada: UUID
    grace: UUID
    checkpoint: int  # the notification id the signed checkpoint ends with


def live_a_little(ledger: Ledger) -> None:
    """acme, its admin and two members; Ada turns on an authenticator app; the admin hands out
    workspace roles; both members sign in."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    for email in (ADA, GRACE):
        ledger.ok(
            "user", "create", email, "--org", "acme", "--password-stdin", stdin=PASSWORD + "\n"
        )
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    totp = pyotp.TOTP(ledger.ok("mfa", "totp", "enrol", ADA)["secret"])
    ledger.later(seconds=20).ok("mfa", "totp", "confirm", ADA, totp.at(ledger.now))
    grant(ledger.later(minutes=1), ADA, "design", "member")
    grant(ledger, GRACE, "design", "viewer")
    sign_in(ledger.later(minutes=1), ADA, "--totp", totp.at(ledger.now))
    sign_in(ledger, GRACE)
    grant(ledger.later(minutes=1), ADA, "billing", "viewer")


@pytest.fixture
def history(ledger: Ledger, store: LedgerStore) -> History:
    """The history above, covered by a signed checkpoint, and verified intact."""
    live_a_little(ledger)
    taken = ledger.later(minutes=1).ok("checkpoint")
    head = ledger.event_count()
    assert taken["notification_id"] == head
    assert ledger.ok("verify", "--store") == {"ok": True, "events": head, "checkpoints": 1}
    return History(Attacker(store), store.account_id(ADA), store.account_id(GRACE), head)


def tampering_reported(ledger: Ledger) -> str:
    """`verify --store` refuses with `tampered`; its message."""
    return str(ledger.refused("verify", "--store", code="tampered")["error"]["message"])


def snapshots_audited_either_way(store: LedgerStore) -> str | None:
    """What verify finds with snapshots audited in its own process and in another (as it does
    for a long log), which must be the same."""
    here, apart = (verify_store(store, audit_apart=apart).finding for apart in (False, True))
    assert here == apart
    return None if here is None else here.describe()


def later_events(ledger: Ledger) -> None:
    """A little more history after the checkpoint."""
    grant(ledger.later(minutes=1), GRACE, "billing", "member")
    grant(ledger, ADA, "ops", "viewer")


# ---- an intact ledger ------------------------------------------------------------------------


def test_an_untouched_ledger_verifies_and_so_does_one_that_simply_grew(
    ledger: Ledger, history: History
) -> None:
    later_events(ledger)

    report = ledger.ok("verify", "--store")

    assert report == {"ok": True, "events": history.checkpoint + 2, "checkpoints": 1}
    human = ledger.run("verify", "--store")
    assert human.exit_code == 0
    assert f"Intact: {history.checkpoint + 2} events, 1 checkpoints" in human.stdout


# ---- (a) an event's stored bytes changed -------------------------------------------------------


def test_a_role_raised_in_a_stored_event_is_found_as_modified_naming_that_event(
    ledger: Ledger, history: History
) -> None:
    granted = history.attacker.event(history.ada, "WorkspaceMembershipGranted", b'"design"')
    assert b'"role":"member"' in granted.state

    history.attacker.set_state(granted, granted.state.replace(b'"member"', b'"owner"'))

    message = tampering_reported(ledger)
    assert message.startswith(f"modified {granted.named}: "), message
    # The text form says the same, on stderr, with exit 1.
    human = ledger.run("verify", "--store")
    assert human.exit_code == 1
    assert f"modified {granted.named}" in human.stderr


@pytest.mark.parametrize("which", ["first of the log", "middle of a stream", "newest"])
def test_a_single_changed_byte_anywhere_is_found_as_modified(
    ledger: Ledger, history: History, which: str
) -> None:
    later_events(ledger)  # the newest events are not covered by any checkpoint yet
    events = history.attacker.events()
    target = {
        "first of the log": events[0],
        "middle of a stream": history.attacker.stream(history.ada)[3],
        "newest": events[-1],
    }[which]
    flipped = bytearray(target.state)
    flipped[len(flipped) // 2] ^= 0x01

    history.attacker.set_state(target, bytes(flipped))

    assert tampering_reported(ledger).startswith(f"modified {target.named}: ")


# ---- (b) an event removed from the middle of its stream ---------------------------------------


@pytest.mark.parametrize("with_link", [False, True], ids=["event only", "event and its link"])
def test_an_event_deleted_from_the_middle_of_its_stream_is_found_as_deleted(
    ledger: Ledger, history: History, with_link: bool
) -> None:
    stream = history.attacker.stream(history.ada)
    middle = stream[len(stream) // 2]
    following = stream[len(stream) // 2 + 1]

    history.attacker.delete_events(middle, with_links=with_link)

    message = tampering_reported(ledger)
    # A missing event is named where it was; without its link, where its stream skips it.
    named = following.named if with_link else middle.named
    assert message.startswith(f"deleted {named}: "), message
    if with_link:
        assert f"version {following.version} follows version {middle.version - 1}" in message


# ---- (c) an event that was never recorded through the ledger ----------------------------------


@pytest.mark.parametrize("into", ["its own stream", "another account's stream"])
def test_a_forged_event_row_is_found_as_inserted(
    ledger: Ledger, history: History, into: str
) -> None:
    """A copy of Ada's workspace grant, replayed as a new event."""
    attacker = history.attacker
    copied = attacker.event(history.ada, "WorkspaceMembershipGranted")
    victim = history.ada if into == "its own stream" else history.grace
    victim_row = attacker.stream(victim)[-1]

    forged = attacker.insert_event(
        victim_row.raw_originator_id, victim_row.version + 1, copied.topic, copied.state
    )

    assert forged > history.checkpoint
    assert tampering_reported(ledger).startswith(
        f"inserted at event {forged} (stream {victim} version {victim_row.version + 1}): "
    )


# ---- (d) two events of a stream reordered -----------------------------------------------------


@pytest.mark.parametrize("how", ["their states swapped", "their versions swapped"])
def test_two_events_of_a_stream_put_in_each_others_place_are_found(
    ledger: Ledger, history: History, how: str
) -> None:
    """Ada's two workspace grants: the billing one made to come first."""
    attacker = history.attacker
    design = attacker.event(history.ada, "WorkspaceMembershipGranted", b'"design"')
    billing = attacker.event(history.ada, "WorkspaceMembershipGranted", b'"billing"')
    assert design.version < billing.version

    if how == "their states swapped":
        attacker.set_state(design, billing.state)
        attacker.set_state(billing, design.state)
    else:
        attacker.swap_versions(design, billing)

    message = tampering_reported(ledger)
    problem = message.split(" ", 1)[0]
    assert problem in ("modified", "reordered"), message
    assert f"at event {design.notification_id} (stream {history.ada} " in message


# ---- (e) the strong attacker rewrites the links too ---------------------------------------------


def test_an_event_rewritten_with_its_links_recomputed_is_found_by_the_signed_checkpoint(
    ledger: Ledger, history: History
) -> None:
    attacker = history.attacker
    granted = attacker.event(history.ada, "WorkspaceMembershipGranted", b'"design"')
    assert granted.version < attacker.stream(history.ada)[-1].version  # later links too

    attacker.set_state(granted, granted.state.replace(b'"member"', b'"owner"'))
    attacker.relink_stream_from(granted)

    # Every link now agrees with the rewritten events: only the signature can tell.
    assert unlinked_events(attacker) == []
    last = attacker.events()[-1]
    assert last.notification_id == history.checkpoint
    assert tampering_reported(ledger).startswith(f"checkpoint {last.named}: ")


# ---- (f) the newest events removed, links and all ----------------------------------------------


@pytest.mark.parametrize("how_many", [1, 3])
def test_the_newest_events_deleted_with_their_links_after_a_checkpoint_are_found(
    ledger: Ledger, history: History, how_many: int
) -> None:
    newest = history.attacker.events()[-how_many:]
    assert newest[-1].notification_id == history.checkpoint

    history.attacker.delete_events(*newest, with_links=True)

    assert tampering_reported(ledger).startswith(f"deleted at event {history.checkpoint}: ")


# ---- (g) a checkpoint that was never signed by the ledger --------------------------------------


@pytest.mark.parametrize(
    "forgery",
    [
        "new checkpoint, true log hash, random signature",
        "new checkpoint, random log hash and signature",
        "existing checkpoint, signature replaced",
    ],
)
def test_a_forged_checkpoint_is_found(ledger: Ledger, history: History, forgery: str) -> None:
    attacker = history.attacker
    later_events(ledger)
    head = attacker.events()[-1].notification_id
    random_signature = secrets.token_bytes(64)

    if forgery == "new checkpoint, true log hash, random signature":
        attacker.add_checkpoint(head, log_hash_up_to(attacker.links(), head), random_signature)
        at = head
    elif forgery == "new checkpoint, random log hash and signature":
        attacker.add_checkpoint(head, secrets.token_bytes(32), random_signature)
        at = head
    else:
        attacker.replace_signature(history.checkpoint, random_signature)
        at = history.checkpoint

    message = tampering_reported(ledger)
    assert message.startswith(f"checkpoint at event {at} "), message


def test_a_checkpoint_signed_with_another_key_is_found(ledger: Ledger, history: History) -> None:
    """Knowing the format is not enough: the signature must be the ledger's own."""
    attacker = history.attacker
    later_events(ledger)
    head = attacker.events()[-1].notification_id
    log_hash = log_hash_up_to(attacker.links(), head)
    impostor = Ed25519PrivateKey.generate()

    attacker.add_checkpoint(head, log_hash, impostor.sign(checkpoint_message(head, log_hash)))

    assert tampering_reported(ledger).startswith(f"checkpoint at event {head} ")


# ---- (h) the time index beside each link, which no hash covers --------------------------------


@pytest.mark.parametrize(
    "when", [timedelta(days=-1), timedelta(days=1)], ids=["a day earlier", "a day later"]
)
def test_an_event_moved_in_the_time_index_is_found_as_misindexed(
    ledger: Ledger, history: History, when: timedelta
) -> None:
    """Moved, Ada's design role would enter (or leave) what `state --as-of` answers."""
    granted = history.attacker.event(history.ada, "WorkspaceMembershipGranted", b'"design"')

    was, moved = history.attacker.move_in_time(granted, when)

    assert tampering_reported(ledger) == (
        f"misindexed {granted.named}: the time index says it was recorded at {moved!r}, but "
        f"the recorder indexes it at {was!r}"
    )


def test_a_time_index_written_to_trouble_a_terminal_is_named_escaped(
    ledger: Ledger, history: History
) -> None:
    granted = history.attacker.event(history.ada, "WorkspaceMembershipGranted", b'"design"')

    history.attacker.set_time_index(granted, "\x1b[2J2026-11-14", None)

    message = tampering_reported(ledger)
    assert message.startswith(f"misindexed {granted.named}: ")
    assert "'\\x1b[2J2026-11-14'" in message and "\x1b" not in message


@pytest.mark.parametrize(
    "refiled",
    ["a session's event under no account", "a session's event under another account",
     "an account's own event under another account"],
)  # fmt: skip
def test_an_event_filed_under_another_account_in_the_time_index_is_found_as_misindexed(
    ledger: Ledger, history: History, refiled: str
) -> None:
    """Filed elsewhere, an event leaves Ada's timeline (or enters Grace's)."""
    attacker = history.attacker
    owner: str | None = None
    if refiled.startswith("a session's"):
        target = attacker.filed_under(history.ada)[0]  # the first event of her first session
        assert target.topic.startswith("ledger.session:Session.")
        owner = str(history.ada)
    else:
        target = attacker.event(history.ada, "WorkspaceMembershipGranted")
    elsewhere = None if refiled.endswith("no account") else str(history.grace)
    recorded_at, _ = attacker.time_index(target)

    attacker.set_time_index(target, recorded_at, elsewhere)

    assert tampering_reported(ledger) == (
        f"misindexed {target.named}: the time index files it under {filed(elsewhere)}, but the "
        f"recorder files it under {filed(owner)}"
    )


def filed(subject: str | None) -> str:
    return "its own stream alone" if subject is None else f"account {subject!r}"


def test_the_demos_untampered_store_verifies_and_every_event_is_read_the_quick_way(
    ledger: Ledger, store: LedgerStore
) -> None:
    """The quick path (`indexed_as_usual`) is what keeps checking the index cheap: every event
    the ledger records must take it."""
    ledger.ok("demo")

    assert ledger.ok("verify", "--store")["ok"] is True
    attacker = Attacker(store)
    for row in attacker.events():
        assert indexed_as_usual(row.topic, row.state, *attacker.time_index(row)), row.named


# ---- PostgreSQL refuses the rewrite unless the triggers are switched off -----------------------


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET state = state || '\\x20'::bytea",
        "DELETE FROM ledger_events WHERE notification_id = 2",
        "TRUNCATE ledger_events",
        "UPDATE ledger_chain SET chain_hash = '\\x00'::bytea",
        "DELETE FROM ledger_chain WHERE notification_id = 2",
        "TRUNCATE ledger_chain",
        "UPDATE ledger_checkpoints SET signature = '\\x00'::bytea",
        "DELETE FROM ledger_checkpoints",
        "TRUNCATE ledger_checkpoints",
        "UPDATE ledger_identity SET store_id = 'another store'",
        "DELETE FROM ledger_identity",
        "TRUNCATE ledger_identity",
    ],
)
def test_on_postgresql_rewriting_the_ledger_tables_is_refused_while_the_triggers_are_on(
    ledger: Ledger, history: History, backend: str, statement: str
) -> None:
    before = (history.attacker.events(), history.attacker.links(), history.attacker.checkpoints())

    with (
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="the ledger is append-only"),
        history.attacker.store.database.transaction() as tx,
    ):
        tx.execute(statement)

    after = (history.attacker.events(), history.attacker.links(), history.attacker.checkpoints())
    assert after == before
    assert ledger.ok("verify", "--store")["ok"] is True


# ---- snapshots: a cache that is authenticated, and checked against the events ----------------


def snapshot_key(store: LedgerStore) -> bytes:
    """What only the holder of the master key can compute."""
    master_key = base64.b64decode(store.key_places.master_key.read_text().strip())
    return derive_key(master_key, "snapshots")


def test_an_authentic_snapshot_moved_to_a_later_version_revives_no_revoked_key(
    ledger: Ledger, store: LedgerStore
) -> None:
    """A rollback: ada's snapshot from before she revoked her key, put back as the newest."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    key = ledger.ok("api-keys", "create", ADA, "--name", "ci")
    account = store.account_id(ADA)
    store.app.take_snapshot(account)
    ledger.later(minutes=1).ok("api-keys", "revoke", ADA, key["key_id"])
    attacker = Attacker(store)
    [before_revoking] = attacker.snapshots(account)

    attacker.put_snapshot(replace(before_revoking, version=before_revoking.version + 1))

    signed_in = ledger.later(minutes=1).run(
        *("login", ADA, "--method", "api-key", "--ip", IP, "--user-agent", USER_AGENT),
        *("--api-key-stdin", "--json"),
        stdin=key["key"] + "\n",
    )
    assert signed_in.exit_code == 1
    assert tampering_reported(ledger).startswith(
        f"snapshot (stream {account} version {before_revoking.version + 1}): this snapshot is "
        "not authenticated"
    )
    assert snapshots_audited_either_way(store) == tampering_reported(ledger)


def test_a_snapshot_authenticated_yet_unlike_its_events_is_found_by_replaying_them(
    ledger: Ledger, store: LedgerStore
) -> None:
    """Only a bug, or someone holding the master key, could store one: `verify --store`
    replays every aggregate that has snapshots and compares."""
    live_a_little(ledger)
    account = store.account_id(ADA)
    store.app.take_snapshot(account)
    assert ledger.ok("verify", "--store")["ok"] is True
    assert snapshots_audited_either_way(store) is None
    attacker = Attacker(store)
    [snapshot] = attacker.snapshots(account)
    seal = SnapshotSeal(snapshot_key(store))
    stored = StoredEvent(account, snapshot.version, snapshot.topic, snapshot.state)
    opened = seal.open(stored)
    assert opened is not None and b'"member"' in opened.state

    raised = replace(opened, state=opened.state.replace(b'"member"', b'"owner"'))
    attacker.put_snapshot(replace(snapshot, state=seal.seal(raised).state))

    assert tampering_reported(ledger).startswith(
        f"snapshot (stream {account} version {snapshot.version}): this snapshot differs from "
        "the aggregate replayed from its events"
    )
    assert snapshots_audited_either_way(store) == tampering_reported(ledger)


def test_a_snapshot_audit_that_cannot_run_apart_is_an_error_not_intact(
    ledger: Ledger, store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's own process cannot open the store (here: another master key in its
    environment): verify says why instead of calling the snapshots sound."""
    live_a_little(ledger)
    store.app.take_snapshot(store.account_id(ADA))
    monkeypatch.setenv(
        "FLERO_LEDGER_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode()
    )

    with pytest.raises(
        VerificationIncomplete, match=r"snapshots could not be audited: .*master key"
    ):
        verify_store(store, audit_apart=True)
    assert verify_store(store, audit_apart=False).intact  # this process's key is the right one


def test_an_authenticated_snapshot_of_a_version_never_reached_is_found(
    ledger: Ledger, store: LedgerStore
) -> None:
    """Made with the master key, a snapshot ahead of its stream: nothing can vouch for it."""
    live_a_little(ledger)
    account = store.account_id(ADA)
    store.app.take_snapshot(account)
    attacker = Attacker(store)
    [snapshot] = attacker.snapshots(account)
    seal = SnapshotSeal(snapshot_key(store))
    opened = seal.open(StoredEvent(account, snapshot.version, snapshot.topic, snapshot.state))
    assert opened is not None
    ahead = snapshot.version + 5
    sealed = seal.seal(replace(opened, originator_version=ahead))
    attacker.put_snapshot(replace(snapshot, version=ahead, state=sealed.state))

    assert tampering_reported(ledger).startswith(
        f"snapshot (stream {account} version {ahead}): this snapshot claims a version its "
        "stream never reached"
    )
    assert snapshots_audited_either_way(store) == tampering_reported(ledger)


# ---- the keys ---------------------------------------------------------------------------------


def test_the_public_key_from_info_verifies_every_stored_checkpoint(
    ledger: Ledger, history: History
) -> None:
    later_events(ledger)
    ledger.later(minutes=1).ok("checkpoint")
    public_key = ledger.ok("info")["signing_public_key"]
    links = history.attacker.links()
    checkpoints = history.attacker.checkpoints()
    assert [n for n, _, _ in checkpoints] == [history.checkpoint, history.checkpoint + 2]

    for notification_id, log_hash, signature in checkpoints:
        # Each signs the log exactly as the chain links fold up to it...
        assert log_hash == log_hash_up_to(links, notification_id)
        message = checkpoint_message(notification_id, log_hash)
        assert verify_signature(public_key, signature, message)
        # ...and nothing else: another position, another log hash or another key fails.
        assert not verify_signature(public_key, signature, checkpoint_message(1, log_hash))
        assert not verify_signature(
            public_key, signature, checkpoint_message(notification_id, bytes(32))
        )
        other_key = public_key_text(Ed25519PrivateKey.generate())
        assert not verify_signature(other_key, signature, message)


def test_the_signing_key_is_kept_apart_from_the_master_key(
    ledger: Ledger, history: History
) -> None:
    places = history.attacker.store.key_places
    master_file, signing_file = places.master_key, places.signing_key

    assert master_file != signing_file
    assert master_file.exists() and signing_file.exists()
    for path in (master_file, signing_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    master_seed = base64.b64decode(master_file.read_text().strip())
    signing_seed = base64.b64decode(signing_file.read_text().strip())
    assert master_seed != signing_seed
    # The key `info` publishes is the signing file's, and not one derived from the master key.
    public_key = ledger.ok("info")["signing_public_key"]
    assert public_key == public_key_text(Ed25519PrivateKey.from_private_bytes(signing_seed))
    assert public_key != public_key_text(Ed25519PrivateKey.from_private_bytes(master_seed))


# ---- automatic checkpoints --------------------------------------------------------------------


def test_a_checkpoint_is_signed_automatically_once_a_hundred_events_are_recorded(
    ledger: Ledger, store: LedgerStore, services: Services
) -> None:
    attacker = Attacker(store)
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    for number in range(CHECKPOINT_EVERY - 3):  # a busy day of workspace changes, in-process
        grant_workspace(
            services, GrantWorkspace(email=ADA, workspace=f"ws-{number}", role="member")
        )
    assert ledger.event_count() == CHECKPOINT_EVERY - 1
    # Read models catch up after every command (in-process on SQLite, by the worker on
    # PostgreSQL); that is when a due checkpoint is signed.
    ledger.ok("projections", "run")
    assert attacker.checkpoints() == []

    ledger.ok("workspace", "grant", ADA, "the-hundredth", "--role", "member")
    ledger.ok("projections", "run")

    checkpoints = attacker.checkpoints()
    assert [n for n, _, _ in checkpoints] == [CHECKPOINT_EVERY]
    public_key = ledger.ok("info")["signing_public_key"]
    notification_id, log_hash, signature = checkpoints[0]
    assert verify_signature(public_key, signature, checkpoint_message(notification_id, log_hash))
    assert ledger.ok("verify", "--store") == {
        "ok": True,
        "events": CHECKPOINT_EVERY,
        "checkpoints": 1,
    }
