"""The export file formats, and their offline verification (no database, only the public key).

Each record carries `chain` (in OCSF lines, `unmapped.chain`): SHA-256 of the previous record's
chain and this record's bytes (the record without its chain, exactly as written). The signed
manifest holds the record count, the time range, the final chain, an anchor every ANCHOR_EVERY
records, the SHA-256 of the whole file and the ledger checkpoint the export was cut from.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.signing import verify_signature

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
ANCHOR_EVERY = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GENESIS = "0" * 64


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def next_chain(previous: str, record_bytes: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + record_bytes).hexdigest()


class RecordFormat(ABC):
    """How one format writes a record, and reads it back to check its chain."""

    header = b""

    @abstractmethod
    def encode(self, record: dict[str, Any]) -> bytes:
        """The bytes a record's chain covers: the record in a stable form, no chain field."""

    @abstractmethod
    def line(self, record: dict[str, Any], encoded: bytes, chain: str) -> bytes:
        """The line written to the file: the record with its chain."""

    @abstractmethod
    def parse(self, line: bytes) -> tuple[dict[str, Any], str]:
        """(the record, the chain it states) from a line of the file."""


class JsonLines(RecordFormat):
    """One JSON object per line, FIELDS in order, the chain as the last field."""

    def encode(self, record: dict[str, Any]) -> bytes:
        return json.dumps(
            {k: record[k] for k in FIELDS}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    def line(self, record: dict[str, Any], encoded: bytes, chain: str) -> bytes:
        return encoded[:-1] + f',"chain":"{chain}"}}\n'.encode()

    def parse(self, line: bytes) -> tuple[dict[str, Any], str]:
        parsed = json.loads(line)
        if not isinstance(parsed, dict):
            raise ValueError("a record is a JSON object")
        return parsed, str(parsed.pop("chain"))


class Csv(RecordFormat):
    """A header, then one row per record, FIELDS in order, the chain as the last cell."""

    header = (",".join((*FIELDS, "chain")) + "\r\n").encode()

    def encode(self, record: dict[str, Any]) -> bytes:
        cells = [csv_cell(record[k]) for k in FIELDS]
        # A row with a neutralised cell is quoted whole, so that no spreadsheet reads that cell
        # as anything but text. Decided from the cells alone: `verify` re-encodes what it reads.
        quote_all = any(map(_neutralised, cells))
        out = io.StringIO()
        writer = csv.writer(
            out, lineterminator="", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        )
        writer.writerow(cells)
        return out.getvalue().encode()

    def line(self, record: dict[str, Any], encoded: bytes, chain: str) -> bytes:
        return encoded + f",{chain}\r\n".encode()

    def parse(self, line: bytes) -> tuple[dict[str, Any], str]:
        row = next(csv.reader([line.decode().rstrip("\r\n")]))
        *cells, stated = row
        values: list[Any] = list(cells)
        return dict(zip(FIELDS, values, strict=True)), stated


class OcsfLines(RecordFormat):
    """One OCSF event per line (projections.ocsf). The chain rides in `unmapped.chain`, where
    OCSF keeps what it has no attribute for; keys are sorted, so the line re-encodes alike."""

    def encode(self, record: dict[str, Any]) -> bytes:
        return _sorted_json(record)

    def line(self, record: dict[str, Any], encoded: bytes, chain: str) -> bytes:
        chained = {**record, "unmapped": {**record["unmapped"], "chain": chain}}
        return _sorted_json(chained) + b"\n"

    def parse(self, line: bytes) -> tuple[dict[str, Any], str]:
        parsed = json.loads(line)
        if not isinstance(parsed, dict):
            raise ValueError("a record is a JSON object")
        return parsed, str(parsed["unmapped"].pop("chain"))


RECORD_FORMATS: dict[str, RecordFormat] = {
    "jsonl": JsonLines(),
    "csv": Csv(),
    "ocsf": OcsfLines(),
}


def _sorted_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def csv_cell(value: Any) -> str:
    """The cell's text; one a spreadsheet would run as a formula (OWASP's CSV injection: it
    begins with = + - @, a tab or a carriage return) begins with a single quote instead. The
    JSONL export keeps every value exactly."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _neutralised(cell: str) -> bool:
    return cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS)


def manifest_message(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ExportProblem:
    record: int | None  # 1-based record number, None for the file or manifest as a whole
    message: str


def verify_export(path: Path, public_key: str | None = None) -> ExportProblem | None:
    """None when the export and its manifest are intact; otherwise the first problem."""
    try:
        manifest = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError) as error:
        return ExportProblem(None, f"the manifest cannot be read: {error}")
    key = manifest.get("public_key", "") if public_key is None else public_key
    signature = base64.b64decode(manifest.get("signature", ""))
    if not verify_signature(key, signature, manifest_message(manifest)):
        return ExportProblem(
            None,
            "the manifest's signature does not verify: it was forged "
            "or altered, or signed by another key",
        )
    try:
        return _verify_records(path, manifest, manifest["format"])
    except OSError as error:
        return ExportProblem(None, f"the export cannot be read: {error}")


def _verify_records(path: Path, manifest: dict[str, Any], fmt: str) -> ExportProblem | None:
    chain, count = GENESIS, 0
    digest = hashlib.sha256()
    anchors = manifest["anchors"]
    for record_bytes, stated in _records(path, RECORD_FORMATS[fmt], digest):
        count += 1
        chain = next_chain(chain, record_bytes)
        if stated != chain:
            return ExportProblem(
                count,
                f"record {count} was altered, removed, inserted or "
                "moved (its chain does not follow from the records before it)",
            )
        if str(count) in anchors and anchors[str(count)] != chain:
            return ExportProblem(count, f"records up to {count} were rewritten (anchor differs)")
    if count != manifest["records"]:
        return ExportProblem(
            count + 1 if count < manifest["records"] else count,
            f"the file has {count} records, the manifest says "
            f"{manifest['records']} (truncated or extended)",
        )
    if chain != manifest["record_chain"]:
        return ExportProblem(count, "the last records were rewritten (final chain differs)")
    if digest.hexdigest() != manifest["file_sha256"]:
        return ExportProblem(None, "the file differs from the one that was signed")
    return None


def _records(path: Path, fmt: RecordFormat, digest: Any) -> Iterator[tuple[bytes, str]]:
    """(the bytes a record's chain covers, the chain it states), streaming the file."""
    with path.open("rb") as f:
        for number, line in enumerate(f):
            digest.update(line)
            if fmt.header and number == 0:
                continue
            try:
                record, stated = fmt.parse(line)
                covered = fmt.encode(record)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                covered, stated = b"", ""  # unreadable: it cannot match its chain
            yield covered, stated
