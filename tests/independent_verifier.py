"""An auditor's verifier of Flero stores and exports, written from docs/FORMAT.md alone.

It imports nothing from the ledger: the standard library, and `cryptography` for Ed25519 (and
psycopg, only to read a PostgreSQL store). Each function names the section of the document it
follows, so that a reader can hold the two side by side.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = bytes(32)
CHECKPOINT_PREFIX = b"flero-ledger checkpoint v1\n"
FIELDS = (
    "position",
    "timestamp",
    "account",
    "org",
    "event",
    "actor",
    "ip",
    "location",
    "user_agent",
    "details",
)
CSV_HEADER = ",".join((*FIELDS, "chain")).encode() + b"\r\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEX = frozenset(b"0123456789abcdef")
INDEXED_FROM = datetime(1970, 1, 1, tzinfo=UTC)
INDEXED_UNTIL = datetime(9000, 1, 1, tzinfo=UTC)
RECORDED_AT = "%Y-%m-%dT%H:%M:%S.%fZ"
SESSION_TOPICS = "ledger.session:Session."


@dataclass(frozen=True)
class Finding:
    """What is wrong, and where (a position in the store, a record number in an export)."""

    problem: str
    where: int | None
    detail: str


# ---- 1, 2: conventions and the public key ------------------------------------------------


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def public_key(text: str) -> Ed25519PublicKey:
    """The 32-byte key, from the base64 that `flero-ledger info` prints."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def signed_by(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# ---- 3.1: the store's rows ----------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    position: int
    stream: bytes  # the UUID's 16 bytes
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class ChainRow:
    position: int
    stream: bytes
    version: int
    chain_hash: bytes
    recorded_at: Any  # 3.8: as the database returns it
    subject_id: Any


@dataclass(frozen=True)
class Checkpoint:
    position: int
    log_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class StoreRows:
    events: list[Event]
    chain: list[ChainRow]
    checkpoints: list[Checkpoint]
    store_id: str | None


def uuid_bytes(text: str) -> bytes:
    """A UUID's 16 bytes from either of its stored forms: 32 hex digits, or hyphenated."""
    digits = text.replace("-", "")
    if len(digits) != 32:
        raise ValueError(f"not a UUID: {text!r}")
    return bytes.fromhex(digits)


def state_bytes(value: bytes | str) -> bytes:
    """The state column's bytes (TEXT left by a hand edit: its UTF-8 bytes)."""
    return value if isinstance(value, bytes) else value.encode()


# 3.1: the tables both stores share, read alike.
CHAIN_ROWS = (
    "SELECT notification_id, originator_id, originator_version, chain_hash, "
    "recorded_at, subject_id FROM ledger_chain ORDER BY notification_id"
)
CHECKPOINT_ROWS = (
    "SELECT notification_id, log_hash, signature FROM ledger_checkpoints ORDER BY notification_id"
)
STORE_IDENTITY = "SELECT store_id FROM ledger_identity"


def read_sqlite(path: Path) -> StoreRows:
    """3.1, SQLite: the event table's position is its rowid; opened read-only."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        events = connection.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid"
        ).fetchall()
        chain = connection.execute(CHAIN_ROWS).fetchall()
        checkpoints = connection.execute(CHECKPOINT_ROWS).fetchall()
        identity = connection.execute(STORE_IDENTITY).fetchone()
    finally:
        connection.close()
    return _rows(events, chain, checkpoints, identity)


def read_postgres(conninfo: str) -> StoreRows:
    """3.1, PostgreSQL: `ledger_events`, positioned by `notification_id`."""
    import psycopg  # only this reader needs a PostgreSQL driver

    with psycopg.connect(conninfo) as connection:
        events = connection.execute(
            "SELECT notification_id, originator_id::text, originator_version, topic, state "
            "FROM ledger_events ORDER BY notification_id"
        ).fetchall()
        chain = connection.execute(CHAIN_ROWS).fetchall()
        checkpoints = connection.execute(CHECKPOINT_ROWS).fetchall()
        identity = connection.execute(STORE_IDENTITY).fetchone()
    return _rows(events, chain, checkpoints, identity)


def _rows(events: list[Any], chain: list[Any], checkpoints: list[Any], identity: Any) -> StoreRows:
    return StoreRows(
        [Event(int(p), uuid_bytes(s), int(v), str(t), state_bytes(b)) for p, s, v, t, b in events],
        [ChainRow(int(p), uuid_bytes(s), int(v), bytes(h), r, j) for p, s, v, h, r, j in chain],
        [Checkpoint(int(p), bytes(h), bytes(s)) for p, h, s in checkpoints],
        None if identity is None else str(identity[0]),
    )


# ---- 3.3 to 3.6: links, the log hash, checkpoints, the anchor ------------------------------


def link(previous: bytes, stream: bytes, version: int, topic: str, state: bytes) -> bytes:
    """3.3: the topic's length counts characters; a topic is ASCII, so they are its bytes."""
    return sha256(previous + stream + u64(version) + u32(len(topic)) + topic.encode() + state)


def fold(log_hash: bytes, position: int, event_link: bytes) -> bytes:
    """3.4."""
    return sha256(log_hash + u64(position) + event_link)


def checkpoint_message(position: int, log_hash: bytes) -> bytes:
    """3.5: 27 + 8 + 32 = 67 bytes."""
    return CHECKPOINT_PREFIX + u64(position) + log_hash


def anchor_file_name(store_id: str) -> str:
    """3.6."""
    return f"flero-ledger-anchor-{store_id}.json"


def read_anchor(path: Path) -> Checkpoint:
    """3.6: hex log hash, base64 signature."""
    kept = json.loads(path.read_text(encoding="utf-8"))
    return Checkpoint(
        int(kept["notification_id"]),
        bytes.fromhex(kept["log_hash"]),
        base64.b64decode(kept["signature"], validate=True),
    )


# ---- 3.8: the time index ------------------------------------------------------------------


def indexed_at(state: bytes) -> set[str] | None:
    """3.8: the `recorded_at` texts the ledger may have written for this state (two for an
    instant outside 1970-9000: today's empty text, or that instant as written until then);
    None for a timestamp that is not text, which the ledger never recorded."""
    try:
        fields = json.loads(state)
    except ValueError:
        return {""}
    if not isinstance(fields, dict) or "timestamp" not in fields:
        return {""}
    if not isinstance(fields["timestamp"], str):
        return None
    try:
        instant = datetime.fromisoformat(fields["timestamp"].strip())
        instant = (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return {""}
    written = instant.strftime(RECORDED_AT)
    return {written} if INDEXED_FROM <= instant < INDEXED_UNTIL else {"", written}


def filed_under(topic: str, state: bytes) -> str | None:
    """3.8: a session's account, if it is indexed in time; every other event is found by its
    own stream."""
    if not topic.startswith(SESSION_TOPICS) or "" in (indexed_at(state) or {""}):
        return None
    try:
        fields = json.loads(state)
    except ValueError:
        return None
    account = fields.get("account_id") if isinstance(fields, dict) else None
    return str(account) if account else None


def check_index(event: Event, row: ChainRow) -> Finding | None:
    """3.8: the chain row's index, recomputed from the event."""
    written = indexed_at(event.state)
    if written is None:
        return Finding("misindexed", event.position, "a timestamp the ledger cannot index")
    if row.recorded_at not in written:
        return Finding("misindexed", event.position, f"moved in time to {row.recorded_at!r}")
    if row.subject_id != filed_under(event.topic, event.state):
        return Finding("misindexed", event.position, f"filed under {row.subject_id!r}")
    return None


# ---- 3.7: verifying a store ----------------------------------------------------------------


@dataclass(frozen=True)
class StoreReport:
    events: int
    checkpoints: int
    signed_up_to: int  # the newest checkpoint's position; later events are not yet signed
    log_hashes: dict[int, bytes]  # the recomputed log hash at every position
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


def verify_store(
    rows: StoreRows, key: Ed25519PublicKey, anchor: Checkpoint | None = None
) -> StoreReport:
    log_hashes: dict[int, bytes] = {}

    def report(finding: Finding | None = None) -> StoreReport:
        newest = max((c.position for c in rows.checkpoints), default=0)
        return StoreReport(len(rows.events), len(rows.checkpoints), newest, log_hashes, finding)

    # Step 2: events and chain rows, position by position.
    chain = {row.position: row for row in rows.chain}
    held = {event.position for event in rows.events}
    for orphan in (row for row in rows.chain if row.position not in held):
        return report(Finding("deleted", orphan.position, "a chain row without its event"))
    # Steps 3 and 4: each stream's versions and links, folded into the log hash.
    streams: dict[bytes, tuple[int, bytes]] = {}
    log_hash = ZERO
    for event in rows.events:
        row = chain.get(event.position)
        if row is None:
            return report(Finding("unlinked", event.position, "an event without a chain row"))
        if (row.stream, row.version) != (event.stream, event.version):
            return report(Finding("reordered", event.position, "the chain row is another event's"))
        version, previous = streams.get(event.stream, (0, ZERO))
        if event.version != version + 1:
            problem = "deleted" if event.version > version + 1 else "reordered"
            detail = f"version {event.version} follows version {version} of its stream"
            return report(Finding(problem, event.position, detail))
        recomputed = link(previous, event.stream, event.version, event.topic, event.state)
        if recomputed != row.chain_hash:
            return report(Finding("modified", event.position, "the event differs from its link"))
        misindexed = check_index(event, row)
        if misindexed is not None:
            return report(misindexed)
        streams[event.stream] = (event.version, recomputed)
        log_hash = fold(log_hash, event.position, recomputed)
        log_hashes[event.position] = log_hash
    for checkpoint in rows.checkpoints:
        finding = check_checkpoint(checkpoint, log_hashes, key, "checkpoint")
        if finding is not None:
            return report(finding)
    # Step 5.
    if anchor is not None:
        return report(check_checkpoint(anchor, log_hashes, key, "anchor"))
    return report()


def check_checkpoint(
    checkpoint: Checkpoint, log_hashes: dict[int, bytes], key: Ed25519PublicKey, what: str
) -> Finding | None:
    """3.7 step 4: at an event's position, the recomputed log hash, signed by the key."""
    if checkpoint.position not in log_hashes:
        return Finding("deleted", checkpoint.position, f"the {what} ends beyond the log")
    if checkpoint.log_hash != log_hashes[checkpoint.position]:
        return Finding(what, checkpoint.position, f"the log up to the {what} was rewritten")
    message = checkpoint_message(checkpoint.position, checkpoint.log_hash)
    if not signed_by(key, checkpoint.signature, message):
        return Finding(what, checkpoint.position, f"the {what}'s signature does not verify")
    return None


# ---- 5.3 to 5.5: records, their chain and their lines --------------------------------------


def next_chain(previous: bytes, record_bytes: bytes) -> bytes:
    """5.3."""
    return sha256(previous + record_bytes)


def split_jsonl_line(line: bytes) -> tuple[bytes, str] | None:
    """5.4: (record bytes, chain hex), or None when the line is not shaped as written."""
    head, tail = line[:-77], line[-77:]
    chain = tail[10:74]
    if not (
        head.startswith(b"{")
        and tail.startswith(b',"chain":"')
        and tail.endswith(b'"}\n')
        and set(chain) <= HEX
    ):
        return None
    return head + b"}", chain.decode()


def split_csv_line(line: bytes) -> tuple[bytes, str] | None:
    """5.5: (record bytes, chain hex), or None when the line is not shaped as written."""
    record, chain = line[:-67], line[-67:]
    if not (chain.startswith(b",") and chain.endswith(b"\r\n") and set(chain[1:65]) <= HEX):
        return None
    return record, chain[1:65].decode()


def canonical_jsonl(record: dict[str, Any]) -> bytes:
    """5.4: compact, non-ASCII as itself, fields in the order they come."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def jsonl_position(record_bytes: bytes) -> int | Finding:
    """A JSONL record's position, after checking the record is encoded as 5.4 says."""
    try:
        record = json.loads(record_bytes)
    except ValueError:
        return Finding("malformed", None, "not a JSON object")
    if not isinstance(record, dict) or tuple(record) != FIELDS:
        return Finding("malformed", None, "not the ten fields in order")
    if canonical_jsonl(record) != record_bytes:
        return Finding("malformed", None, "not encoded as 5.4 says")
    if not isinstance(record["position"], int):
        return Finding("malformed", None, "a position that is not an integer")
    return record["position"]


def csv_cell(cell: str, quote: bool) -> str:
    """5.5: a quoted cell doubles its quotes."""
    return '"' + cell.replace('"', '""') + '"' if quote else cell


def csv_row(cells: list[str]) -> bytes:
    """5.5: every cell quoted once one was neutralised; else only cells with , or "."""
    quote_all = any(c.startswith("'") and c[1:].startswith(FORMULA_STARTS) for c in cells)
    return ",".join(csv_cell(c, quote_all or "," in c or '"' in c) for c in cells).encode()


def csv_position(record_bytes: bytes) -> int | Finding:
    """A CSV record's position, after checking the row is encoded as 5.5 says."""
    try:
        cells = next(csv.reader([record_bytes.decode()]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return Finding("malformed", None, "not a CSV row")
    if len(cells) != len(FIELDS) or csv_row(cells) != record_bytes:
        return Finding("malformed", None, "not encoded as 5.5 says")
    if any(cell.startswith(FORMULA_STARTS) for cell in cells):
        return Finding("malformed", None, "a cell a spreadsheet would run as a formula")
    if not cells[0].isdecimal():
        return Finding("malformed", None, "a position that is not an integer")
    return int(cells[0])


# ---- 5.6, 5.7: the manifest, and verifying an export ---------------------------------------


def manifest_path(export: Path) -> Path:
    """5.1."""
    return export.with_name(export.name + ".manifest.json")


def signed_manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """5.6: keys sorted, compact, ASCII-escaped."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class ExportReport:
    records: int
    checkpoint: Checkpoint | None  # the store checkpoint the export was cut at
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


def verify_export(path: Path, key: Ed25519PublicKey) -> ExportReport:
    """5.7, steps 1 to 5 (with the store at hand, compare `checkpoint` with its log hash)."""
    manifest = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    # Step 2.
    signature = base64.b64decode(manifest.get("signature") or "", validate=True)
    if not signed_by(key, signature, signed_manifest_bytes(manifest)):
        return ExportReport(
            0, None, Finding("signature", None, "the manifest's signature does not verify")
        )
    cut = manifest["checkpoint"]
    checkpoint = (
        Checkpoint(
            int(cut["notification_id"]),
            bytes.fromhex(cut["log_hash"]),
            base64.b64decode(cut["signature"], validate=True),
        )
        if cut["notification_id"]
        else None
    )
    # Step 3.
    data = path.read_bytes()
    lines = record_lines(data, manifest["format"])
    if isinstance(lines, Finding):
        return ExportReport(0, checkpoint, lines)
    chain, last, finding = ZERO, 0, None
    for number, line in enumerate(lines, start=1):
        chain, position = check_record(number, line, chain, manifest)
        if isinstance(position, Finding):
            return ExportReport(len(lines), checkpoint, position)
        if position <= last or checkpoint is None or position > checkpoint.position:
            detail = "its position is out of order, or beyond the export's checkpoint"
            return ExportReport(len(lines), checkpoint, Finding("record", number, detail))
        last = position
    # Step 4.
    if len(lines) != manifest["records"]:
        finding = Finding("count", None, f"{len(lines)} records, not {manifest['records']}")
    elif chain.hex() != manifest["record_chain"]:
        finding = Finding("record", len(lines), "the last records were rewritten")
    elif hashlib.sha256(data).hexdigest() != manifest["file_sha256"]:
        finding = Finding("file", None, "the file differs from the one that was signed")
    # Step 5.
    elif checkpoint is not None and not signed_by(
        key, checkpoint.signature, checkpoint_message(checkpoint.position, checkpoint.log_hash)
    ):
        finding = Finding("checkpoint", None, "the checkpoint's signature does not verify")
    return ExportReport(len(lines), checkpoint, finding)


def record_lines(data: bytes, fmt: str) -> list[bytes] | Finding:
    """5.4, 5.5: the record lines, each with its line ending (CSV: after the header)."""
    ending = b"\r\n" if fmt == "csv" else b"\n"
    lines = [line + ending for line in data.split(ending)[:-1]]
    if b"".join(lines) != data:
        return Finding("malformed", None, "the file does not end with a whole line")
    if fmt == "csv":
        if not lines or lines[0] != CSV_HEADER:
            return Finding("malformed", None, "the CSV header is not the one of 5.5")
        return lines[1:]
    return lines


def check_record(
    number: int, line: bytes, previous: bytes, manifest: dict[str, Any]
) -> tuple[bytes, int | Finding]:
    """5.7 step 3 for record `number`: its chain value, and its position once its chain, the
    anchor there and its encoding are checked."""
    csv_format = manifest["format"] == "csv"
    split = (split_csv_line if csv_format else split_jsonl_line)(line)
    if split is None:
        return previous, Finding("record", number, "the line does not end with its chain")
    record_bytes, stated = split
    chain = next_chain(previous, record_bytes)
    if stated != chain.hex():
        return chain, Finding("record", number, "altered, removed, inserted or moved")
    anchored = manifest["anchors"].get(str(number))
    if anchored is not None and anchored != chain.hex():
        return chain, Finding("record", number, "the records up to this anchor were rewritten")
    position = (csv_position if csv_format else jsonl_position)(record_bytes)
    if isinstance(position, Finding):
        return chain, Finding(position.problem, number, position.detail)
    return chain, position


def cut_from(export: ExportReport, store: StoreReport) -> bool:
    """5.7 step 5, with the store at hand: the export's checkpoint is this store's history."""
    checkpoint = export.checkpoint
    return checkpoint is None or store.log_hashes.get(checkpoint.position) == checkpoint.log_hash
