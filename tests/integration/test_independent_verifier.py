"""An auditor verifies our store and our exports from docs/FORMAT.md alone (issue 14).

The verifier, tests/independent_verifier.py, imports nothing from the ledger. The ledger is used
here only to produce what an auditor receives (a store the demo filled, its exports, the public
key `info` prints) and to say whether its own `verify` agrees. The attacker works on the
database with sqlite3 or psycopg, and knows the format: it is documented now.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from commands.organisations import RequireMfa, require_mfa
from commands.services import Services
from devtools.postgres_cluster import PgServer
from ledger.clock import FixedClock
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from tests import independent_verifier as auditor
from tests.conftest import Ledger, fresh_pg_database

FORMAT_MD = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"
AFTER_THE_DEMO = datetime(2026, 12, 1, 10, tzinfo=UTC)
HOSTILE_USER_AGENT = '=HYPERLINK("https://evil.test") Ünïcode 🔒'
PASSWORD = "correct-horse-battery"
LEDGER_ENVIRONMENT = (
    "FLERO_LEDGER_DB",
    "FLERO_LEDGER_NOW",
    "FLERO_LEDGER_MASTER_KEY",
    "FLERO_LEDGER_KEY_FILE",
    "FLERO_LEDGER_SIGNING_KEY",
    "FLERO_LEDGER_SIGNING_KEY_FILE",
    "FLERO_LEDGER_ANCHOR_DIR",
)


@pytest.fixture(scope="module", autouse=True)
def own_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keys and anchors beside each store, as the defaults put them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in LEDGER_ENVIRONMENT:
            patch.delenv(name, raising=False)
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
        yield


# ---- what the auditor receives ---------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A SQLite store (with its keys and anchor beside it), exports of it, and the public key."""

    folder: Path
    public_key: str
    exports: dict[str, Path]

    @property
    def database(self) -> Path:
        return self.folder / "ledger.sqlite3"

    @property
    def ledger(self) -> Ledger:
        return Ledger(f"sqlite:///{self.database}").at(AFTER_THE_DEMO)

    def copy(self, to: Path) -> Received:
        shutil.copytree(self.folder, to)
        return Received(to, self.public_key, {k: to / p.name for k, p in self.exports.items()})

    def anchor(self) -> auditor.Checkpoint:
        store_id = auditor.read_sqlite(self.database).store_id
        assert store_id is not None
        return auditor.read_anchor(self.folder / auditor.anchor_file_name(store_id))


def sign_in_with_a_hostile_user_agent(ledger: Ledger, email: str, org: str) -> None:
    """A new member signs in from a client whose user agent is a formula, in non-ASCII text."""
    ledger.ok("user", "create", email, "--org", org, "--password-stdin", stdin=PASSWORD + "\n")
    ledger.later(minutes=1).ok(
        "login", email, "--method", "password", "--password-stdin", "--ip", "81.2.69.160",
        "--user-agent", HOSTILE_USER_AGENT, stdin=PASSWORD + "\n",
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Received:
    """The demo's story, a sign-in with a hostile, non-ASCII user agent, and exports of it all
    (one under a non-ASCII name, which the manifest's signed bytes escape)."""
    folder = tmp_path_factory.mktemp("received") / "store"
    folder.mkdir()
    ledger = Ledger(f"sqlite:///{folder / 'ledger.sqlite3'}")
    ledger.ok("demo")
    ledger.at(AFTER_THE_DEMO)
    sign_in_with_a_hostile_user_agent(ledger, "eve@flero-demo.test", "flero-demo")
    exports = {
        "jsonl": folder / "everything-é🔒.jsonl",
        "csv": folder / "everything.csv",
        "user-jsonl": folder / "eve.jsonl",
        "user-csv": folder / "eve.csv",
    }
    for name, path in exports.items():
        scope = ["--user", "eve@flero-demo.test"] if name.startswith("user") else ["--all"]
        ledger.later(minutes=1).ok(
            "export", *scope, "--format", name.removeprefix("user-"), "--out", str(path)
        )
    return Received(folder, ledger.ok("info")["signing_public_key"], exports)


@pytest.fixture
def received(demo: Received, tmp_path: Path) -> Received:
    """A copy of its own for each test, to tamper with."""
    return demo.copy(tmp_path / "store")


def key(received: Received) -> Ed25519PublicKey:
    return auditor.public_key(received.public_key)


def verify_store(received: Received, with_anchor: bool = True) -> auditor.StoreReport:
    anchor = received.anchor() if with_anchor else None
    return auditor.verify_store(auditor.read_sqlite(received.database), key(received), anchor)


def ledger_verifies_store(received: Received) -> bool:
    result = received.ledger.run("verify", "--store", "--json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code == 0


def ledger_verifies_export(received: Received, path: Path, public_key: str) -> bool:
    result = received.ledger.run("verify", str(path), "--public-key", public_key, "--json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code == 0


# ---- the store -------------------------------------------------------------------------------


def test_the_store_as_recorded_verifies_link_by_link_and_checkpoint_by_checkpoint(
    received: Received,
) -> None:
    report = verify_store(received)

    assert report.intact, report.finding
    assert report.events == received.ledger.event_count() > 50
    assert report.checkpoints >= 1  # the exports were cut at one
    assert report.signed_up_to == report.events  # the last export signed the whole log
    assert ledger_verifies_store(received)


def test_the_store_is_refused_under_another_public_key(received: Received) -> None:
    stranger = Ed25519PrivateKey.generate().public_key()
    report = auditor.verify_store(auditor.read_sqlite(received.database), stranger)

    assert report.finding is not None and report.finding.problem == "checkpoint"


Attack = Callable[[sqlite3.Connection], None]


def stored(db: sqlite3.Connection, where: str = "1") -> list[tuple[int, str, int, str, bytes]]:
    return db.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        f"WHERE {where} ORDER BY rowid"
    ).fetchall()


def longest_stream(db: sqlite3.Connection) -> str:
    row = db.execute(
        "SELECT originator_id FROM stored_events GROUP BY originator_id ORDER BY COUNT(*) DESC"
    ).fetchone()
    return str(row[0])


def alter_an_event(db: sqlite3.Connection) -> None:
    position, *_, state = stored(db, "topic LIKE '%MfaRequirementChanged'")[0]
    altered = state.replace(b'"required":true', b'"required":false')
    assert altered != state
    db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (altered, position))


def relink_every_stream(db: sqlite3.Connection) -> None:
    """The attacker who knows the format (it is documented now) recomputes every link."""
    previous: dict[bytes, bytes] = {}
    for position, stream, version, topic, state in stored(db):
        stream_bytes = auditor.uuid_bytes(stream)
        before = previous.get(stream_bytes, bytes(32))
        previous[stream_bytes] = auditor.link(before, stream_bytes, version, topic, state)
        db.execute(
            "UPDATE ledger_chain SET chain_hash = ? WHERE notification_id = ?",
            (previous[stream_bytes], position),
        )


def alter_an_event_and_relink(db: sqlite3.Connection) -> None:
    alter_an_event(db)
    relink_every_stream(db)


def delete_an_event(db: sqlite3.Connection) -> None:
    position = stored(db, f"originator_id = '{longest_stream(db)}'")[3][0]
    db.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))


def delete_a_link(db: sqlite3.Connection) -> None:
    position = stored(db, f"originator_id = '{longest_stream(db)}'")[3][0]
    db.execute("DELETE FROM ledger_chain WHERE notification_id = ?", (position,))


def delete_an_event_with_its_link(db: sqlite3.Connection) -> None:
    delete_an_event_and_link_at(db, stored(db, f"originator_id = '{longest_stream(db)}'")[3][0])


def delete_the_last_event_with_its_link(db: sqlite3.Connection) -> None:
    delete_an_event_and_link_at(db, stored(db)[-1][0])


def delete_an_event_and_link_at(db: sqlite3.Connection, position: int) -> None:
    db.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    db.execute("DELETE FROM ledger_chain WHERE notification_id = ?", (position,))


def swap_two_events_of_a_stream(db: sqlite3.Connection) -> None:
    first, second = stored(db, f"originator_id = '{longest_stream(db)}'")[2:4]
    for position, version in ((first[0], -1), (second[0], first[2]), (first[0], second[2])):
        db.execute(
            "UPDATE stored_events SET originator_version = ? WHERE rowid = ?", (version, position)
        )


def swap_events_of_two_streams_with_their_links(db: sqlite3.Connection) -> None:
    """Their streams' orders stay as they were: only the log's order changes."""
    rows = stored(db)
    first, second = next((a, b) for a, b in itertools.pairwise(rows) if a[1] != b[1])
    for table, column in (("stored_events", "rowid"), ("ledger_chain", "notification_id")):
        for old, new in ((first[0], -1), (second[0], first[0]), (-1, second[0])):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))


def insert_an_event(db: sqlite3.Connection) -> None:
    _, stream, version, topic, state = stored(db, f"originator_id = '{longest_stream(db)}'")[-1]
    db.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", (stream, version + 1, topic, state))


def move_an_event_a_day_later(db: sqlite3.Connection) -> None:
    """3.8: the time index, which no hash covers: the event leaves the answers as of its day."""
    position, recorded_at = db.execute(
        "SELECT notification_id, recorded_at FROM ledger_chain ORDER BY notification_id "
        "LIMIT 1 OFFSET 3"
    ).fetchone()
    moved = datetime.fromisoformat(recorded_at) + timedelta(days=1)
    db.execute(
        "UPDATE ledger_chain SET recorded_at = ? WHERE notification_id = ?",
        (moved.strftime(auditor.RECORDED_AT), position),
    )


def file_a_sessions_events_under_no_account(db: sqlite3.Connection) -> None:
    """3.8: the session leaves its account's timeline."""
    (session,) = db.execute(
        "SELECT originator_id FROM ledger_chain WHERE subject_id IS NOT NULL LIMIT 1"
    ).fetchone()
    db.execute("UPDATE ledger_chain SET subject_id = NULL WHERE originator_id = ?", (session,))


def forge_a_checkpoint_signature(db: sqlite3.Connection) -> None:
    position, signature = db.execute(
        "SELECT notification_id, signature FROM ledger_checkpoints LIMIT 1"
    ).fetchone()
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    db.execute(
        "UPDATE ledger_checkpoints SET signature = ? WHERE notification_id = ?", (forged, position)
    )


@pytest.mark.parametrize(
    ("attack", "problem"),
    [
        (alter_an_event, "modified"),
        (alter_an_event_and_relink, "checkpoint"),
        (delete_an_event, "deleted"),
        (delete_a_link, "unlinked"),
        (delete_an_event_with_its_link, "deleted"),
        (delete_the_last_event_with_its_link, "deleted"),
        (swap_two_events_of_a_stream, "reordered"),
        (swap_events_of_two_streams_with_their_links, "checkpoint"),
        (insert_an_event, "unlinked"),
        (forge_a_checkpoint_signature, "checkpoint"),
        (move_an_event_a_day_later, "misindexed"),
        (file_a_sessions_events_under_no_account, "misindexed"),
    ],
    ids=lambda value: value.__name__.replace("_", " ") if callable(value) else value,
)
def test_the_auditor_finds_each_tampering_with_the_store_as_the_ledger_does(
    received: Received, attack: Attack, problem: str
) -> None:
    with sqlite3.connect(received.database) as db:
        attack(db)
    db.close()

    report = verify_store(received)

    assert report.finding is not None and report.finding.problem == problem, report.finding
    assert not ledger_verifies_store(received)


def test_a_rewrite_whose_checkpoints_were_deleted_too_is_found_by_the_anchor(
    received: Received,
) -> None:
    with sqlite3.connect(received.database) as db:
        alter_an_event_and_relink(db)
        db.execute("DELETE FROM ledger_checkpoints")
    db.close()

    # The database alone can no longer show it: the anchor, kept outside, does.
    assert verify_store(received, with_anchor=False).intact
    report = verify_store(received)
    assert report.finding is not None and report.finding.problem == "anchor"
    assert not ledger_verifies_store(received)


# ---- exports ---------------------------------------------------------------------------------


EXPORTS = ["jsonl", "csv", "user-jsonl", "user-csv"]


@pytest.mark.parametrize("export", EXPORTS)
def test_an_export_as_written_verifies_and_was_cut_from_the_store(
    received: Received, export: str
) -> None:
    path = received.exports[export]
    report = auditor.verify_export(path, key(received))

    assert report.intact, report.finding
    assert report.records == json.loads(auditor.manifest_path(path).read_text())["records"] > 0
    assert auditor.cut_from(report, verify_store(received))
    assert ledger_verifies_export(received, path, received.public_key)


def test_non_ascii_text_and_formulas_reach_the_exports_as_the_document_says(
    received: Received,
) -> None:
    jsonl = received.exports["jsonl"].read_bytes()
    csv = received.exports["csv"].read_bytes()
    manifest = auditor.manifest_path(received.exports["jsonl"]).read_text()

    assert json.dumps(HOSTILE_USER_AGENT, ensure_ascii=False).encode() in jsonl  # as itself
    quoted = '"' + ("'" + HOSTILE_USER_AGENT).replace('"', '""') + '"'
    assert quoted.encode() in csv  # neutralised, and its whole row quoted
    assert '"file": "everything-\\u00e9\\ud83d\\udd12.jsonl"' in manifest


def record_lines(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(the header, if any; the record lines), each line with its ending."""
    lines = path.read_bytes().splitlines(keepends=True)
    return (lines[:1], lines[1:]) if path.suffix == ".csv" else ([], lines)


def rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    header, lines = record_lines(path)
    path.write_bytes(b"".join(header + edit(lines)))


def alter_a_record(lines: list[bytes]) -> list[bytes]:
    number = next(i for i, line in enumerate(lines) if b"81.2.69.160" in line)
    lines[number] = lines[number].replace(b"81.2.69.160", b"81.2.69.161", 1)
    return lines


def remove_a_record(lines: list[bytes]) -> list[bytes]:
    return lines[:1] + lines[2:]


def swap_two_records(lines: list[bytes]) -> list[bytes]:
    return [lines[1], lines[0], *lines[2:]]


def remove_the_last_record(lines: list[bytes]) -> list[bytes]:
    return lines[:-1]


def rechain(path: Path) -> None:
    """The attacker who knows the format recomputes every record's chain value."""
    csv_format = path.suffix == ".csv"
    split = auditor.split_csv_line if csv_format else auditor.split_jsonl_line
    header, lines = record_lines(path)
    chain, rechained = bytes(32), []
    for line in lines:
        found = split(line)
        assert found is not None
        chain = auditor.next_chain(chain, found[0])
        rechained.append(
            found[0] + b"," + chain.hex().encode() + b"\r\n"
            if csv_format
            else found[0][:-1] + b',"chain":"' + chain.hex().encode() + b'"}\n'
        )
    path.write_bytes(b"".join(header + rechained))


def restate_manifest(path: Path, signer: Ed25519PrivateKey | None = None) -> None:
    """Bring the manifest in line with the file; re-sign it if the attacker has a key."""
    manifest_file = auditor.manifest_path(path)
    manifest = json.loads(manifest_file.read_text())
    data = path.read_bytes()
    _, lines = record_lines(path)
    manifest["file_sha256"] = hashlib.sha256(data).hexdigest()
    manifest["records"] = len(lines)
    split = auditor.split_csv_line if path.suffix == ".csv" else auditor.split_jsonl_line
    last = split(lines[-1])
    assert last is not None
    manifest["record_chain"] = last[1]
    if signer is not None:  # a whole forgery: the checkpoint it was cut at, too
        cut = manifest["checkpoint"]
        message = auditor.checkpoint_message(cut["notification_id"], bytes.fromhex(cut["log_hash"]))
        cut["signature"] = base64.b64encode(signer.sign(message)).decode()
        raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        manifest["public_key"] = base64.b64encode(raw).decode()
        signature = signer.sign(auditor.signed_manifest_bytes(manifest))
        manifest["signature"] = base64.b64encode(signature).decode()
    manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def alter_and_rechain(path: Path) -> None:
    rewrite(path, alter_a_record)
    rechain(path)


def alter_rechain_and_restate(path: Path) -> None:
    alter_and_rechain(path)
    restate_manifest(path)


def alter_the_manifest(path: Path) -> None:
    manifest_file = auditor.manifest_path(path)
    manifest = json.loads(manifest_file.read_text())
    manifest["time_range"]["first"] = manifest["time_range"]["last"]
    manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


ExportAttack = Callable[[Path], None]


@pytest.mark.parametrize("export", ["jsonl", "csv"])
@pytest.mark.parametrize(
    ("attack", "problem"),
    [
        (lambda path: rewrite(path, alter_a_record), "record"),
        (lambda path: rewrite(path, remove_a_record), "record"),
        (lambda path: rewrite(path, swap_two_records), "record"),
        (lambda path: rewrite(path, remove_the_last_record), "count"),
        (alter_and_rechain, "record"),
        (alter_rechain_and_restate, "signature"),
        (alter_the_manifest, "signature"),
    ],
    ids=[
        "a record altered",
        "a record removed",
        "two records swapped",
        "the last record removed",
        "a record altered and the chain recomputed",
        "and the manifest restated",
        "the manifest altered",
    ],
)
def test_the_auditor_finds_each_tampering_with_an_export_as_the_ledger_does(
    received: Received, export: str, attack: ExportAttack, problem: str
) -> None:
    path = received.exports[export]
    attack(path)

    report = auditor.verify_export(path, key(received))

    assert report.finding is not None and report.finding.problem == problem, report.finding
    assert not ledger_verifies_export(received, path, received.public_key)


@pytest.mark.parametrize("export", ["jsonl", "csv"])
def test_an_export_is_refused_under_another_public_key(received: Received, export: str) -> None:
    path = received.exports[export]
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    stranger = base64.b64encode(raw).decode()

    report = auditor.verify_export(path, auditor.public_key(stranger))

    assert report.finding is not None and report.finding.problem == "signature"
    assert not ledger_verifies_export(received, path, stranger)


@pytest.mark.parametrize("export", ["jsonl", "csv"])
def test_an_export_forged_and_signed_with_the_forgers_key_passes_only_under_that_key(
    received: Received, export: str
) -> None:
    path = received.exports[export]
    forger = Ed25519PrivateKey.generate()
    alter_and_rechain(path)
    restate_manifest(path, signer=forger)
    forgers_key = json.loads(auditor.manifest_path(path).read_text())["public_key"]

    assert auditor.verify_export(path, auditor.public_key(forgers_key)).intact
    report = auditor.verify_export(path, key(received))
    assert report.finding is not None and report.finding.problem == "signature"
    assert not ledger_verifies_export(received, path, received.public_key)


def test_an_export_cut_from_a_rewritten_history_no_longer_matches_the_store(
    received: Received,
) -> None:
    export = auditor.verify_export(received.exports["jsonl"], key(received))
    with sqlite3.connect(received.database) as db:
        alter_an_event_and_relink(db)
        db.execute("DELETE FROM ledger_checkpoints")
    db.close()

    assert export.intact
    assert not auditor.cut_from(export, verify_store(received, with_anchor=False))


def test_an_export_of_more_than_a_thousand_records_is_anchored_every_thousand(
    tmp_path: Path,
) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    ledger.ok("org", "create", "acme")
    opened = LedgerStore(StoreLocation.parse(ledger.url))
    try:  # the CLI's own commands, without its start-up each time: a thousand take seconds
        for turn in range(1, 1001):
            ledger.later(seconds=1)
            command = RequireMfa(slug="acme", required=turn % 2 == 1)
            if turn % 100:
                require_mfa(Services(store=opened, clock=FixedClock(ledger.now)), command)
            else:  # and the CLI signs the checkpoint due every hundred events
                ledger.ok("org", "require-mfa", "acme", "on" if command.required else "off")
    finally:
        opened.close()
    path = tmp_path / "acme.jsonl"
    ledger.ok("export", "--org", "acme", "--format", "jsonl", "--out", str(path))
    public_key = auditor.public_key(ledger.ok("info")["signing_public_key"])

    report = auditor.verify_export(path, public_key)
    store = auditor.verify_store(auditor.read_sqlite(tmp_path / "ledger.sqlite3"), public_key)

    assert report.intact, report.finding
    assert report.records == 1001
    assert set(json.loads(auditor.manifest_path(path).read_text())["anchors"]) == {"1000"}
    assert store.intact and store.checkpoints > 10, store.finding  # one every 100 events
    assert auditor.cut_from(report, store)


# ---- PostgreSQL ------------------------------------------------------------------------------


def test_a_postgresql_store_verifies_and_its_tampering_is_found_the_same_way(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # its keys and anchor
    url = pg_server.url(fresh_pg_database(pg_server))
    ledger = Ledger(url)
    ledger.ok("init")
    ledger.ok("org", "create", "acme")
    sign_in_with_a_hostile_user_agent(ledger, "eve@acme.test", "acme")
    path = tmp_path / "acme.jsonl"
    ledger.ok("export", "--org", "acme", "--format", "jsonl", "--out", str(path))
    public_key = auditor.public_key(ledger.ok("info")["signing_public_key"])
    rows = auditor.read_postgres(url)
    assert rows.store_id is not None
    anchor = auditor.read_anchor(
        next((tmp_path / "data").rglob(auditor.anchor_file_name(rows.store_id)))
    )

    store = auditor.verify_store(rows, public_key, anchor)
    export = auditor.verify_export(path, public_key)
    assert store.intact and store.checkpoints == 1, store.finding
    assert export.intact and auditor.cut_from(export, store), export.finding
    assert ledger.ok("verify", "--store")["ok"]

    altered = rows.events[0].state.replace(b'"slug":"acme"', b'"slug":"acne"')
    with psycopg.connect(url) as db:  # one transaction, the append-only triggers off in it
        db.execute("ALTER TABLE ledger_events DISABLE TRIGGER USER")
        db.execute("UPDATE ledger_events SET state = %s WHERE notification_id = 1", (altered,))
        db.execute("ALTER TABLE ledger_events ENABLE TRIGGER USER")

    report = auditor.verify_store(auditor.read_postgres(url), public_key, anchor)
    assert report.finding is not None and report.finding.problem == "modified"
    assert ledger.run("verify", "--store", "--json").exit_code == 1


# ---- the document's worked examples -----------------------------------------------------------


EXAMPLE_SEED = bytes(range(32))
EXAMPLE = {
    "seed": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "public key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
    "link 1": "c4c44bafd23dce61e9c47cd944117d1d723c613d3aaf053c956cb80a2f007a34",
    "link 2": "8535681a9205d688e5b6c28e8238a291c368edaffef5d6958e8462be05214e6d",
    "recorded_at 1": "2026-11-14T09:00:00.000000Z",
    "recorded_at 2": "2026-11-14T09:05:00.000000Z",
    "log 1": "09cbbec7376b56fe7a7499337dcd86e9098a54e9a11647144c559333edc59019",
    "log 2": "59260ebc505201c884d7d3a317eedad7e15dbbca64d69b56c8e9e23d6b5a71d6",
    "checkpoint message": "666c65726f2d6c656467657220636865636b706f696e742076310a0000000000000002",
    "checkpoint signature": "GZfG97qmRO3JLNNOPZ/+hRymRcViIa36spGbEZ74vClTsOgoymIQ5IxjEGo/hEdVtRLX"
    "lBxO5tsbz2GOffErDg==",
    "jsonl chain 1": "1cdeefa007487cdd18f607d02160417eec816e4b5bc209b40ed5b2b653904801",
    "jsonl chain 2": "69e3d53d52c9ca8c95a6ae560386bda276ed717bad8b6732099fd8165e219c0a",
    "jsonl file": "084d943070dd2e3bc9cea4fd969fe8e070aef0dc0b87cdc2207b142405244629",
    "csv chain 1": "956fa44e72a55e84f1b7d37d99ff13efd84cc1f936c6c8fbef95b6134d50ffa3",
    "csv chain 2": "8ad9f97bb37993346870902d4220573ea9183904a38be5cb9fc7cb8201dc2a9c",
    "csv file": "d4f9248897274be1a9d86c2f896f2c942a0151f43a5759b0ef82551078de266f",
    "manifest signature": "iYcAoVOPEpwdZQC5TjwTdP2exHxsf1emt5u3pfvkEsmbMeHZGOwxOJXwkRc/RVmuPJUXCTj"
    "33Y0SyO+f+/6GAw==",
}
EXAMPLE_STREAM = "00112233-4455-6677-8899-aabbccddeeff"
EXAMPLE_EVENTS = [
    (
        "ledger.organisation:Organisation.Created",
        b'{"actor_id":null,"ip":null,"originator_topic":"ledger.organisation:Organisation",'
        b'"slug":"acme","timestamp":"2026-11-14T09:00:00Z","user_agent":null}',
    ),
    (
        "ledger.organisation:Organisation.MfaRequirementChanged",
        b'{"actor_id":null,"ip":null,"required":true,"timestamp":"2026-11-14T09:05:00Z",'
        b'"user_agent":null}',
    ),
]
EXAMPLE_RECORDS = {
    "jsonl": [
        b'{"position":1,"timestamp":"2026-11-14T09:00:00Z","account":null,"org":"acme",'
        b'"event":"OrganisationCreated","actor":"system","ip":null,"location":null,'
        b'"user_agent":null,"details":{"slug":"acme"}}',
        '{"position":2,"timestamp":"2026-11-14T09:05:00Z","account":null,"org":"acme",'
        '"event":"MfaRequirementChanged","actor":"ada@acme.test","ip":"81.2.69.160",'
        '"location":"Malmö, Sweden","user_agent":"=Ünï 🔒","details":{"required":true}}'.encode(),
    ],
    "csv": [
        b'1,2026-11-14T09:00:00Z,,acme,OrganisationCreated,system,,,,"{""slug"":""acme""}"',
        '"2","2026-11-14T09:05:00Z","","acme","MfaRequirementChanged","ada@acme.test",'
        '"81.2.69.160","Malmö, Sweden","\'=Ünï 🔒","{""required"":true}"'.encode(),
    ],
}


def test_the_documents_worked_examples_are_what_the_verifier_computes() -> None:
    """Every value the document shows, recomputed, and the document shows each of them."""
    signer = Ed25519PrivateKey.from_private_bytes(EXAMPLE_SEED)
    raw_key = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    stream = auditor.uuid_bytes(EXAMPLE_STREAM)
    link_1 = auditor.link(bytes(32), stream, 1, *EXAMPLE_EVENTS[0])
    link_2 = auditor.link(link_1, stream, 2, *EXAMPLE_EVENTS[1])
    log_1 = auditor.fold(bytes(32), 1, link_1)
    log_2 = auditor.fold(log_1, 2, link_2)
    message = auditor.checkpoint_message(2, log_2)
    computed = {
        "seed": base64.b64encode(EXAMPLE_SEED).decode(),
        "public key": base64.b64encode(raw_key).decode(),
        "link 1": link_1.hex(),
        "link 2": link_2.hex(),
        **{
            f"recorded_at {n}": "".join(auditor.indexed_at(state) or ())
            for n, (_, state) in enumerate(EXAMPLE_EVENTS, start=1)
        },
        "log 1": log_1.hex(),
        "log 2": log_2.hex(),
        "checkpoint message": message[:-32].hex(),
        "checkpoint signature": base64.b64encode(signer.sign(message)).decode(),
    }
    for fmt, records in EXAMPLE_RECORDS.items():
        chain_1 = auditor.next_chain(bytes(32), records[0])
        chain_2 = auditor.next_chain(chain_1, records[1])
        computed[f"{fmt} chain 1"], computed[f"{fmt} chain 2"] = chain_1.hex(), chain_2.hex()
        computed[f"{fmt} file"] = hashlib.sha256(example_file(fmt)).hexdigest()
    computed["manifest signature"] = str(example_manifest("jsonl", signer)["signature"])

    assert computed == EXAMPLE
    document = FORMAT_MD.read_text(encoding="utf-8")
    for value in EXAMPLE.values():
        assert value in document
    for _, state in EXAMPLE_EVENTS:
        assert state.decode() in document
    for records in EXAMPLE_RECORDS.values():
        for record in records:
            assert record.decode() in document
    assert auditor.signed_manifest_bytes(example_manifest("jsonl", signer)).decode() in document


def test_the_documents_example_exports_verify_under_the_example_key(tmp_path: Path) -> None:
    signer = Ed25519PrivateKey.from_private_bytes(EXAMPLE_SEED)
    for fmt in EXAMPLE_RECORDS:
        path = tmp_path / f"acme-é.{fmt}"
        path.write_bytes(example_file(fmt))
        manifest = example_manifest(fmt, signer)
        auditor.manifest_path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True))

        report = auditor.verify_export(path, auditor.public_key(EXAMPLE["public key"]))

        assert report.intact, report.finding
        assert (
            report.checkpoint is not None and report.checkpoint.log_hash.hex() == EXAMPLE["log 2"]
        )


def example_file(fmt: str) -> bytes:
    chain, lines = bytes(32), []
    for record in EXAMPLE_RECORDS[fmt]:
        chain = auditor.next_chain(chain, record)
        if fmt == "csv":
            lines.append(record + b"," + chain.hex().encode() + b"\r\n")
        else:
            lines.append(record[:-1] + b',"chain":"' + chain.hex().encode() + b'"}\n')
    header = auditor.CSV_HEADER if fmt == "csv" else b""
    return header + b"".join(lines)


def example_manifest(fmt: str, signer: Ed25519PrivateKey) -> dict[str, object]:
    data = example_file(fmt)
    manifest: dict[str, object] = {
        "anchors": {},
        "checkpoint": {
            "log_hash": EXAMPLE["log 2"],
            "notification_id": 2,
            "signature": EXAMPLE["checkpoint signature"],
        },
        "file": f"acme-é.{fmt}",
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "format": fmt,
        "from": None,
        "public_key": EXAMPLE["public key"],
        "record_chain": EXAMPLE[f"{fmt} chain 2"],
        "records": 2,
        "scope": {"kind": "org", "name": "acme"},
        "time_range": {"first": "2026-11-14T09:00:00Z", "last": "2026-11-14T09:05:00Z"},
        "to": None,
    }
    signature = signer.sign(auditor.signed_manifest_bytes(manifest))
    return {**manifest, "signature": base64.b64encode(signature).decode()}
