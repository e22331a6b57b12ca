"""Compliance exports from the command line: what goes into a signed export, and how an auditor,
with nothing but the file, its manifest and the ledger's public key, finds any tampering."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cli import main
from ledger import identity
from ledger.clock import format_instant_ms
from ledger.events import Context, Stamp
from ledger.store import LedgerStore
from projections.export_files import manifest_message
from tests.cli.test_forensics import (
    ADA,
    ADMIN,
    ADMIN_IP,
    FIREFOX,
    PASSWORD,
    SECRET_FIELDS,
    UK_IP,
    confirm_totp,
    create_members,
    enrol_totp,
    grant_directly,
    instant,
    sign_in,
)
from tests.conftest import T0, Ledger

GUS = "gus@globex.test"
BOB = "bob@acme.test"
FIELDS = [
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
    "chain",
]
FORMATS = ("jsonl", "csv")
NO_DATABASE = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens there
CURL = "curl/8.8.0"


# ---- exporting -------------------------------------------------------------------------------


def export(ledger: Ledger, out: Path, fmt: str, *scope: str) -> dict[str, Any]:
    """`export SCOPE... --format FMT --out OUT`; it must succeed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    result = ledger.ok("export", *scope, "--format", fmt, "--out", str(out))
    assert result["ok"] is True
    assert result["path"] == str(out)
    assert result["manifest"] == str(out) + ".manifest.json"
    return dict(result)


def manifest_of(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.with_name(path.name + ".manifest.json").read_text()))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records as an auditor reads them: JSON objects, or CSV rows (numbers and details
    parsed, empty cells as null) so that both formats compare alike."""
    if path.suffix != ".csv":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    records = []
    for row in rows:
        record: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
        record["position"] = int(row["position"])
        record["details"] = json.loads(row["details"])
        records.append(record)
    return records


def without_chain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "chain"} for r in records]


def recorded(store: LedgerStore) -> list[tuple[int, str, str]]:
    """(position, stream, recorded at) of every event, from the ledger's own time index."""
    with store.database.transaction() as tx:
        rows = tx.fetchall(
            "SELECT notification_id, originator_id, recorded_at FROM ledger_chain "
            "ORDER BY notification_id"
        )
    return [(int(n), str(stream), str(at)) for n, stream, at in rows]


def positions_of(store: LedgerStore, *streams: UUID) -> list[int]:
    """The events of these streams, and of the sessions of these accounts (which the events
    themselves name)."""
    wanted = {str(s) for s in streams}
    events = store.app.recorder.select_notifications(start=1, limit=100_000)
    return [
        event.id
        for event in events
        if str(event.originator_id) in wanted
        or (
            event.topic.startswith("ledger.session:")
            and json.loads(event.state)["account_id"] in wanted
        )
    ]


def every_recorded_secret(store: LedgerStore) -> list[str]:
    """Every secret value in every stored event: hashes, salts, nonces, sealed secrets."""
    with store.database.transaction() as tx:
        rows = tx.fetchall(f"SELECT state FROM {store.event_table}")
    found: list[str] = []
    for (state,) in rows:
        for name, value in json.loads(bytes(state)).items():
            if name in SECRET_FIELDS and value:
                found.extend(value if isinstance(value, list) else [value])
    return found


# ---- verifying, as an auditor does: no database ----------------------------------------------


def verify(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """`verify PATH` with the store pointing at a PostgreSQL server that does not exist."""
    result = CliRunner().invoke(main, ["--db", NO_DATABASE, "verify", str(path), *extra, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"verify crashed instead of answering: {result.exception!r}")
    return result.exit_code, json.loads(result.stdout)


def assert_intact(path: Path, *extra: str) -> None:
    code, answer = verify(path, *extra)
    assert code == 0, answer
    manifest = manifest_of(path)
    pinned = "--public-key" in extra
    assert answer == {
        "ok": True,
        "path": str(path),
        "verified": True,
        "public_key": manifest["public_key"],
        "key_pinned": pinned,
    }


def tampered(path: Path, *extra: str) -> str:
    """Verification must refuse the export; returns what it says is wrong."""
    code, answer = verify(path, *extra)
    assert code == 1, answer
    assert answer["error"]["code"] == "tampered", answer
    message = str(answer["error"]["message"])
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def named_record(path: Path, *extra: str) -> int | None:
    """The record verification names as the first one tampered with (None: the whole file)."""
    found = re.match(r"record (\d+): ", tampered(path, *extra))
    return int(found.group(1)) if found else None


# ---- a tamperer's tools ----------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """An export file as bytes on disk, edited the way someone with a text editor would."""

    path: Path
    fmt: str

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".manifest.json")

    def manifest(self) -> dict[str, Any]:
        return manifest_of(self.path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    @contextmanager
    def restored_afterwards(self) -> Iterator[None]:
        """Tamper inside; the export and its manifest are put back as they were after."""
        kept = self.path.read_bytes(), self.manifest_path.read_bytes()
        try:
            yield
        finally:
            self.path.write_bytes(kept[0])
            self.manifest_path.write_bytes(kept[1])

    def _all_lines(self) -> list[bytes]:
        return self.path.read_bytes().splitlines(keepends=True)

    def header(self) -> list[bytes]:
        return self._all_lines()[:1] if self.fmt == "csv" else []

    def lines(self) -> list[bytes]:
        """The record lines, record 1 first."""
        return self._all_lines()[len(self.header()) :]

    def write_lines(self, lines: list[bytes]) -> None:
        self.path.write_bytes(b"".join([*self.header(), *lines]))

    def parse(self, line: bytes) -> dict[str, Any]:
        if self.fmt == "jsonl":
            return dict(json.loads(line))
        return dict(zip(FIELDS, next(csv.reader([line.decode()])), strict=True))

    def encode(self, record: dict[str, Any]) -> bytes:
        if self.fmt == "jsonl":
            return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(record.values())
        return out.getvalue().encode()

    def edit(self, number: int, change: Callable[[dict[str, Any]], None]) -> None:
        """Change record `number` (1-based) in place, keeping its stated chain."""
        lines = self.lines()
        record = self.parse(lines[number - 1])
        change(record)
        lines[number - 1] = self.encode(record)
        self.write_lines(lines)

    # The chain is a plain SHA-256 over what is written: anyone can recompute it.

    def covered_bytes(self, line: bytes) -> bytes:
        """The bytes a record's chain covers: the line as written, without its chain."""
        body = line.rstrip(b"\r\n")
        if self.fmt == "jsonl":
            return body[: body.rindex(b',"chain":"')] + b"}"
        return body.rsplit(b",", 1)[0]

    def with_chain(self, covered: bytes, chain: str) -> bytes:
        if self.fmt == "jsonl":
            return covered[:-1] + f',"chain":"{chain}"}}\n'.encode()
        return covered + f",{chain}\r\n".encode()

    def rechain(self) -> None:
        """Recompute every record's chain from the first, as a careful forger would."""
        chain, lines = "0" * 64, []
        for line in self.lines():
            covered = self.covered_bytes(line)
            chain = hashlib.sha256(bytes.fromhex(chain) + covered).hexdigest()
            lines.append(self.with_chain(covered, chain))
        self.write_lines(lines)


@pytest.fixture(params=["jsonl", "csv"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ---- histories to export ---------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    secrets: list[str]


@pytest.fixture
def history(ledger: Ledger) -> History:
    """Two organisations over three days (13th-15th November), and a stranger knocking."""
    ledger.at(instant("2026-11-13T10:00:00Z"))
    create_members(ledger)
    ledger.ok("org", "create", "globex")
    ledger.ok("user", "create", GUS, "--org", "globex")
    ledger.later(hours=1)
    ledger.ok(
        "workspace", "grant", ADA, "design", "--role", "member", "--actor", ADMIN, "--ip", ADMIN_IP
    )
    ledger.at(T0)
    secret = enrol_totp(ledger, ADA)
    ledger.later(seconds=20)
    codes = confirm_totp(ledger, ADA, secret)
    ledger.at(T0 + timedelta(minutes=30))
    session = sign_in(ledger, ADA, secret)
    ledger.at(T0 + timedelta(hours=1))
    ledger.ok("org", "require-mfa", "acme", "on", "--actor", ADMIN, "--ip", ADMIN_IP)
    ledger.ok("workspace", "grant", GUS, "ops", "--role", "member")
    stranger = ledger.later(minutes=30).run(
        "login",
        "nobody@acme.test",
        "--method",
        "password",
        "--password-stdin",
        "--ip",
        "198.51.100.66",
        "--user-agent",
        CURL,
        "--json",
        stdin="guessed-password\n",
    )
    assert stranger.exit_code == 1
    key = ledger.later(minutes=30).ok("api-keys", "create", ADA, "--name", "ci")["key"]
    ledger.at(instant("2026-11-15T08:00:00Z"))
    ledger.ok("workspace", "revoke", ADA, "design", "--actor", ADMIN)
    ledger.ok(
        "org", "sso", "globex", "--idp", "okta", "--issuer", "https://idp.globex.test",
        "--client-id", "flero-ledger", "--mfa", "idp",
    )  # fmt: skip
    token = session["session_token"]
    return History([secret, *codes, token, token.rsplit(".", 1)[-1], PASSWORD, key])


def check_export(
    ledger: Ledger,
    path: Path,
    fmt: str,
    scope: list[str],
    expected: list[int],
) -> list[dict[str, Any]]:
    """Export, and check what every export promises; returns the records."""
    result = export(ledger, path, fmt, *scope)
    records = read_records(path)
    manifest = manifest_of(path)

    assert [r["position"] for r in records] == expected
    assert result["records"] == manifest["records"] == len(expected)
    assert result["checkpoint"] == manifest["checkpoint"]["notification_id"]
    assert result["checkpoint"] == ledger.event_count()
    timestamps = [r["timestamp"] for r in records]
    assert timestamps == sorted(timestamps)
    assert manifest["time_range"] == {"first": timestamps[0], "last": timestamps[-1]}
    assert manifest["format"] == fmt
    assert manifest["file"] == path.name
    assert manifest["public_key"] == ledger.ok("info")["signing_public_key"]
    assert_intact(path)
    return records


# ---- what goes into an export ----------------------------------------------------------------


def test_a_user_export_holds_exactly_that_accounts_events(
    ledger: Ledger, store: LedgerStore, history: History, tmp_path: Path
) -> None:
    expected = positions_of(store, store.account_id(ADA))

    for fmt in FORMATS:
        path = tmp_path / f"ada.{fmt}"
        records = check_export(ledger, path, fmt, ["--user", ADA], expected)

        assert len(records) == 9  # her account's events and her session's
        assert {(r["account"], r["org"]) for r in records} == {(ADA, "acme")}
        assert [r["event"] for r in records][:2] == ["AccountCreated", "WorkspaceMembershipGranted"]
        assert manifest_of(path)["scope"] == {"kind": "user", "name": ADA}


def test_an_org_export_holds_the_org_and_its_members_events(
    ledger: Ledger, store: LedgerStore, history: History, tmp_path: Path
) -> None:
    acme = [identity.organisation_id("acme"), store.account_id(ADA), store.account_id(ADMIN)]
    expected = positions_of(store, *acme)

    for fmt in FORMATS:
        records = check_export(ledger, tmp_path / f"acme.{fmt}", fmt, ["--org", "acme"], expected)

        assert {r["org"] for r in records} == {"acme"}
        assert {r["account"] for r in records} == {None, ADA, ADMIN}
        org_events = [r["event"] for r in records if r["account"] is None]
        assert org_events == ["OrganisationCreated", "AdminAdded", "MfaRequirementChanged"]
        # Nothing of globex, nor the attempts on an address that has no account.
        assert not any(GUS in json.dumps(r) or "nobody@" in json.dumps(r) for r in records)


def test_an_export_of_everything_holds_every_event(
    ledger: Ledger, store: LedgerStore, history: History, tmp_path: Path
) -> None:
    everything = [position for position, _, _ in recorded(store)]
    assert everything == list(range(1, ledger.event_count() + 1))

    for fmt in FORMATS:
        records = check_export(ledger, tmp_path / f"all.{fmt}", fmt, ["--all"], everything)

        assert {r["org"] for r in records} == {"acme", "globex", None}
        assert {r["account"] for r in records} == {ADA, ADMIN, GUS, None}
        stranger = [r for r in records if r["org"] is None]
        assert [(r["event"], r["ip"], r["user_agent"]) for r in stranger] == [
            ("UnknownAccountAttemptsCreated", "198.51.100.66", CURL),
            # The per-source throttle: the address's stream, and the failure counted there.
            ("SignInSourceCreated", None, None),
            ("FailureCounted", None, None),
        ]
        assert stranger[1]["details"] == {"source": "198.51.100.66"}


def test_records_keep_one_field_order_and_say_the_same_in_both_formats(
    ledger: Ledger, history: History, tmp_path: Path
) -> None:
    export(ledger, tmp_path / "all.jsonl", "jsonl", "--all")
    export(ledger, tmp_path / "all.csv", "csv", "--all")

    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert all(list(json.loads(line)) == FIELDS for line in lines)
    assert (tmp_path / "all.csv").read_bytes().split(b"\r\n", 1)[0] == ",".join(FIELDS).encode()
    as_json, as_csv = read_records(tmp_path / "all.jsonl"), read_records(tmp_path / "all.csv")
    assert without_chain(as_json) == without_chain(as_csv)
    assert all(list(r["details"]) == sorted(r["details"]) for r in as_json)


def test_personal_data_is_readable_and_secrets_are_not(
    ledger: Ledger, store: LedgerStore, history: History, tmp_path: Path
) -> None:
    hidden = every_recorded_secret(store)
    assert len(hidden) >= 15  # the ledger does hold them (so that this test could fail)

    for fmt in FORMATS:
        path = tmp_path / f"all.{fmt}"
        export(ledger, path, fmt, "--all")
        records = read_records(path)
        text = path.read_text(encoding="utf-8") + json.dumps(manifest_of(path))

        login = next(r for r in records if r["event"] == "LoginSucceeded")
        assert (login["account"], login["actor"], login["ip"]) == (ADA, ADA, UK_IP)
        assert "United Kingdom" in login["location"]
        assert login["user_agent"] == FIREFOX
        granted = next(r for r in records if r["event"] == "WorkspaceMembershipGranted")
        assert (granted["account"], granted["actor"], granted["ip"]) == (ADA, ADMIN, ADMIN_IP)
        created = [r["details"]["email"] for r in records if r["event"] == "AccountCreated"]
        assert created == [ADMIN, ADA, GUS]
        leaked = [s for s in [*history.secrets, *hidden] if s in text]
        assert leaked == [], fmt
        assert "sealed:" not in text  # personal data opened, never shown as ciphertext


WINDOWS: list[tuple[str | None, str | None, set[str]]] = [
    # --from, --to, the UTC days whose events are exported
    ("2026-11-14", "2026-11-14", {"2026-11-14"}),
    ("2026-11-14", None, {"2026-11-14", "2026-11-15"}),
    (None, "2026-11-13", {"2026-11-13"}),
    ("2026-11-13", "2026-11-15", {"2026-11-13", "2026-11-14", "2026-11-15"}),
    ("2026-11-16", None, set()),
]


def test_from_and_to_select_whole_utc_days(
    ledger: Ledger, store: LedgerStore, history: History, tmp_path: Path
) -> None:
    for since, until, days in WINDOWS:
        window = [*(("--from", since) if since else ()), *(("--to", until) if until else ())]
        expected = [position for position, _, at in recorded(store) if at[:10] in days]
        path = tmp_path / f"{since}-{until}.csv"

        result = export(ledger, path, "csv", "--all", *window)

        records = read_records(path)
        assert [r["position"] for r in records] == expected, window
        assert result["records"] == len(expected)
        assert {r["timestamp"][:10] for r in records} == days
        manifest = manifest_of(path)
        assert manifest["from"] == (since and f"{since}T00:00:00.000Z")
        assert manifest["to"] == (until and format_instant_ms(instant(until) + timedelta(days=1)))
        if not records:
            assert manifest["time_range"] == {"first": None, "last": None}
        assert_intact(path)


def test_the_same_range_exported_twice_is_byte_identical(
    ledger: Ledger, history: History, tmp_path: Path
) -> None:
    scope = ("--org", "acme", "--to", "2026-11-15")
    for fmt in FORMATS:
        export(ledger, tmp_path / "monday" / f"acme.{fmt}", fmt, *scope)
        export(ledger, tmp_path / "tuesday" / f"acme.{fmt}", fmt, *scope)
        export(ledger, tmp_path / "renamed" / f"acme-copy.{fmt}", fmt, *scope)
    ledger.at(instant("2026-11-16T09:00:00Z")).ok("workspace", "grant", ADA, "late", "--role", "x")
    for fmt in FORMATS:
        export(ledger, tmp_path / "later" / f"acme.{fmt}", fmt, *scope)

    for fmt in FORMATS:
        name = f"acme.{fmt}"
        first = (tmp_path / "monday" / name).read_bytes()
        assert (tmp_path / "tuesday" / name).read_bytes() == first
        assert (tmp_path / "monday" / f"{name}.manifest.json").read_bytes() == (
            tmp_path / "tuesday" / f"{name}.manifest.json"
        ).read_bytes()
        # Under another name, only the manifest's file name (and so its signature) differs.
        assert (tmp_path / "renamed" / f"acme-copy.{fmt}").read_bytes() == first
        original = manifest_of(tmp_path / "monday" / name)
        renamed = manifest_of(tmp_path / "renamed" / f"acme-copy.{fmt}")
        assert {k for k in original if original[k] != renamed[k]} == {"file", "signature"}
        # After a new event outside the range: the same records, cut at a later checkpoint.
        assert (tmp_path / "later" / name).read_bytes() == first
        later = manifest_of(tmp_path / "later" / name)
        assert {k for k in original if original[k] != later[k]} == {"checkpoint", "signature"}
        cut = original["checkpoint"]["notification_id"]
        assert later["checkpoint"]["notification_id"] == cut + 1
    for day in ("monday", "tuesday", "later"):
        for fmt in FORMATS:
            assert_intact(tmp_path / day / f"acme.{fmt}")


def test_the_manifests_time_range_spans_every_record_even_out_of_time_order(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Each stream refuses only to go back before its own last event, so two members' events
    can be recorded out of time order (as two concurrent commands stamped a moment apart are).
    Records stay in recorded order; the signed time range must still cover them all."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    ledger.ok("user", "create", BOB, "--org", "acme")
    ledger.at(T0 + timedelta(hours=2)).ok("workspace", "grant", ADA, "design", "--role", "admin")
    ledger.at(T0 + timedelta(hours=1))
    ledger.ok("workspace", "grant", BOB, "ops", "--role", "admin")
    path = tmp_path / "acme.jsonl"

    export(ledger, path, "jsonl", "--org", "acme")

    records = read_records(path)
    assert [r["position"] for r in records] == [1, 2, 3, 4, 5]  # recorded order
    timestamps = [r["timestamp"] for r in records]
    assert timestamps[-2:] == ["2026-11-14T11:00:00.000Z", "2026-11-14T10:00:00.000Z"]
    assert_intact(path)
    assert manifest_of(path)["time_range"] == {"first": min(timestamps), "last": max(timestamps)}


MILLISECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_every_instant_in_an_export_is_written_to_the_millisecond(
    ledger: Ledger, tmp_path: Path
) -> None:
    """One fixed width, whatever the instant: a SIEM parses every record alike."""
    create_members(ledger)  # on the second
    ledger.at(T0 + timedelta(seconds=1, microseconds=123_999))  # cut, not rounded
    ledger.ok("mfa", "sms", "enrol", ADA, "--phone", "+14155550123")  # a code for ten minutes

    for fmt in FORMATS:
        path = tmp_path / f"ada.{fmt}"
        export(ledger, path, fmt, "--user", ADA, "--from", "2026-11-14")

        records = read_records(path)
        assert [r["timestamp"] for r in records] == [
            "2026-11-14T09:00:00.000Z",
            "2026-11-14T09:00:01.123Z",
        ]
        assert records[-1]["details"]["expires_at"] == "2026-11-14T09:10:01.123Z"
        manifest = manifest_of(path)
        assert manifest["from"] == "2026-11-14T00:00:00.000Z"
        instants = [manifest["from"], *manifest["time_range"].values()]
        assert all(MILLISECONDS.match(instant) for instant in instants), instants


MAPPED = "::ffff:808:404"  # the IPv4 client 8.8.4.4, as an IPv6 socket sees it


def test_addresses_are_written_as_the_client_has_them_and_labelled_for_what_they_are(
    ledger: Ledger, store: LedgerStore, tmp_path: Path
) -> None:
    create_members(ledger)
    for workspace, ip in [("a", MAPPED), ("b", "203.0.113.7"), ("c", "10.1.2.3")]:
        ledger.ok("workspace", "grant", ADA, workspace, "--role", "member", "--ip", ip)
    # Recorded as it came, before the command line wrote such an address as IPv4.
    account = store.account(ADA)
    stamp = Stamp(at=T0 + timedelta(minutes=1), context=Context(ip=MAPPED), sealer=store.keyring)
    account.grant_workspace("d", "member", stamp)
    store.app.save(account)

    for fmt in FORMATS:
        path = tmp_path / f"ada.{fmt}"
        export(ledger, path, fmt, "--user", ADA)

        granted = [
            (r["ip"], r["location"])
            for r in read_records(path)
            if r["event"] == "WorkspaceMembershipGranted"
        ]
        assert granted == [
            ("8.8.4.4", "United States"),
            ("203.0.113.7", "Documentation range"),
            ("10.1.2.3", "Private network"),
            ("8.8.4.4", "United States"),
        ]
        assert MAPPED not in path.read_text()


def test_an_export_needs_exactly_one_known_scope_and_writes_nothing_otherwise(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    out = exports / "x.jsonl"
    common = ("--format", "jsonl", "--out", str(out))

    ledger.refused("export", "--user", "nobody@acme.test", *common, code="unknown_user")
    ledger.refused("export", "--org", "globex", *common, code="unknown_org")
    ledger.bad_input("export", *common)
    ledger.bad_input("export", "--user", account, "--all", *common)
    ledger.bad_input("export", "--all", "--from", "14/11/2026", *common)
    ledger.bad_input("export", "--all", "--format", "xml", "--out", str(out))

    assert list(exports.iterdir()) == []


def test_an_export_into_a_missing_directory_is_refused_not_a_crash(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    out = tmp_path / "no-such-directory" / "x.jsonl"

    result = ledger.run("export", "--all", "--format", "jsonl", "--out", str(out), "--json")

    assert result.exit_code in (1, 2)
    assert "error" in json.loads(result.stdout)


@pytest.mark.parametrize("occupied", ["file", "manifest", "link"])
def test_an_export_never_writes_over_an_existing_file(
    ledger: Ledger, account: str, tmp_path: Path, occupied: str
) -> None:
    """Run as root with a mistyped --out, an export must not clobber /etc/passwd."""
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "audit.jsonl"
    precious = folder / "precious"
    precious.write_text("root:x:0:0\n")
    taken = {"file": out, "manifest": folder / "audit.jsonl.manifest.json", "link": out}[occupied]
    if occupied == "link":
        taken.symlink_to(precious)
    else:
        taken.write_text("root:x:0:0\n")

    result = ledger.run("export", "--all", "--format", "jsonl", "--out", str(out), "--json")

    assert result.exit_code == 2
    assert "already exists" in json.loads(result.stdout)["error"]["message"]
    assert taken.read_text() == "root:x:0:0\n"
    assert precious.read_text() == "root:x:0:0\n"
    assert len(list(folder.iterdir())) == 2  # nothing new beside them


# ---- tampering -------------------------------------------------------------------------------


@pytest.fixture
def exported(ledger: Ledger, tmp_path: Path, fmt: str) -> Export:
    """ada's export: six records, the middle ones changes made by an admin from an address."""
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    changes = [
        ("grant", "design", "--role", "member"),
        ("grant", "ops", "--role", "admin"),
        ("grant", "design", "--role", "viewer"),
        ("revoke", "ops"),
    ]
    for action, workspace, *role in changes:
        ledger.later(minutes=5)
        ledger.ok(
            "workspace",
            action,
            ADA,
            workspace,
            *role,
            "--actor",
            ADMIN,
            "--ip",
            ADMIN_IP,
            "--user-agent",
            CURL,
        )
    ledger.later(minutes=5).ok("user", "alerts", ADA, "--security", "off")
    path = tmp_path / "exports" / f"ada.{fmt}"
    assert export(ledger, path, fmt, "--user", ADA)["records"] == 6
    found = Export(path, fmt)
    found.write_lines([found.encode(found.parse(line)) for line in found.lines()])
    assert_intact(path)  # the tools above rewrite an untouched record byte for byte
    return found


RECORDS = 6
K = 3  # the record tampered with: a workspace granted by the admin


def test_an_intact_export_verifies_with_no_database(ledger: Ledger, exported: Export) -> None:
    unreachable = CliRunner().invoke(main, ["--db", NO_DATABASE, "info", "--json"])
    assert unreachable.exit_code == 1
    assert json.loads(unreachable.stdout)["error"]["code"] == "store_unavailable"

    assert_intact(exported.path)
    assert_intact(exported.path, "--public-key", ledger.ok("info")["signing_public_key"])
    human = CliRunner().invoke(main, ["--db", NO_DATABASE, "verify", str(exported.path)])
    assert human.exit_code == 0
    assert "intact" in human.stdout


ALTERATIONS: list[tuple[str, Any]] = [
    ("ip", "192.0.2.1"),
    ("actor", ADA),
    ("timestamp", "2026-11-14T09:10:01Z"),
    ("event", "WorkspaceMembershipRevoked"),
    ("user_agent", "Mozilla/5.0"),
    ("location", "Paris, France"),
    ("account", "eve@acme.test"),
    ("position", 999),
]


def test_altering_one_field_of_a_record_names_that_record(exported: Export) -> None:
    def setting(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda record: record.update({field: value})

    for field, value in ALTERATIONS:
        with exported.restored_afterwards():
            exported.edit(K, setting(field, value))

            assert named_record(exported.path) == K, field
    assert_intact(exported.path)
    # Told the same way without --json: exit 1 and the record, on stderr.
    exported.edit(K, lambda record: record.update({"ip": "192.0.2.1"}))
    told = CliRunner().invoke(main, ["--db", NO_DATABASE, "verify", str(exported.path)])
    assert told.exit_code == 1
    assert f"record {K}:" in told.stderr


def test_altering_a_records_details_names_that_record(exported: Export) -> None:
    def promote(record: dict[str, Any]) -> None:
        if exported.fmt == "jsonl":
            record["details"]["role"] = "owner"
        else:
            record["details"] = record["details"].replace("admin", "owner")

    exported.edit(K, promote)

    assert named_record(exported.path) == K


def test_a_record_stripped_of_a_field_names_that_record(exported: Export) -> None:
    def strip_ip(record: dict[str, Any]) -> None:
        del record["ip"]

    exported.edit(K, strip_ip)

    assert named_record(exported.path) == K


def test_a_record_replaced_by_something_that_is_no_record_names_that_record(
    exported: Export,
) -> None:
    for garbage in [b"not a record", b"", b"null", b"[1, 2]", b'"text"', b"{}"]:
        with exported.restored_afterwards():
            lines = exported.lines()
            lines[K - 1] = garbage + (b"\n" if exported.fmt == "jsonl" else b"\r\n")
            exported.write_lines(lines)

            assert named_record(exported.path) == K, garbage


def test_a_removed_record_is_named(exported: Export) -> None:
    lines = exported.lines()
    exported.write_lines(lines[: K - 1] + lines[K:])

    assert named_record(exported.path) == K


def test_an_inserted_duplicate_record_is_named(exported: Export) -> None:
    lines = exported.lines()
    exported.write_lines([*lines[:K], lines[K - 1], *lines[K:]])

    assert named_record(exported.path) == K + 1


def test_two_swapped_records_are_named(exported: Export) -> None:
    lines = exported.lines()
    lines[K - 1], lines[K] = lines[K], lines[K - 1]
    exported.write_lines(lines)

    assert named_record(exported.path) == K


def test_a_truncated_file_is_named_where_it_ends(exported: Export) -> None:
    data = exported.path.read_bytes()
    last = exported.lines()[-1]
    cuts = {
        "the last line": (len(data) - len(last), RECORDS),
        "half the last line": (len(data) - len(last) // 2, RECORDS),
        "its line end": (len(data) - 1, None),
        "every record": (len(b"".join(exported.header())), 1),
    }
    for cut, (keep, named) in cuts.items():
        with exported.restored_afterwards():
            exported.path.write_bytes(data[:keep])

            assert named_record(exported.path) == named, cut


def test_records_rewritten_with_their_chains_recomputed_are_still_found(exported: Export) -> None:
    exported.edit(K, lambda record: record.update({"ip": "192.0.2.1"}))
    exported.rechain()

    assert "rewritten" in tampered(exported.path)


def test_a_well_chained_record_appended_at_the_end_is_named(exported: Export) -> None:
    lines = exported.lines()
    exported.write_lines([*lines, lines[-1]])
    exported.rechain()

    assert named_record(exported.path) == RECORDS + 1


def test_a_manifest_edited_without_re_signing_is_found(exported: Export) -> None:
    def one_record_fewer(manifest: dict[str, Any]) -> None:
        exported.write_lines(exported.lines()[:-1])
        manifest["records"] -= 1
        manifest["record_chain"] = exported.parse(exported.lines()[-1])["chain"]
        manifest["file_sha256"] = hashlib.sha256(exported.path.read_bytes()).hexdigest()

    forgeries: dict[str, Callable[[dict[str, Any]], None]] = {
        "one record fewer": one_record_fewer,
        "more records": lambda m: m.update(records=m["records"] + 1),
        "another final chain": lambda m: m.update(record_chain="0" * 64),
        "a later last timestamp": lambda m: m["time_range"].update(last="2026-12-31T00:00:00Z"),
        "another file digest": lambda m: m.update(file_sha256=hashlib.sha256(b"x").hexdigest()),
        "an anchor": lambda m: m["anchors"].update({"3": "0" * 64}),
        "another scope": lambda m: m["scope"].update(name="eve@acme.test"),
        "another public key": lambda m: m.update(
            public_key=public_key_of(Ed25519PrivateKey.generate())
        ),
        "no signature": lambda m: m.pop("signature"),
    }
    for forgery, forge in forgeries.items():
        with exported.restored_afterwards():
            manifest = exported.manifest()
            forge(manifest)
            exported.write_manifest(manifest)

            assert "signature does not verify" in tampered(exported.path), forgery


def public_key_of(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def forge_without_last_record(exported: Export, key: Ed25519PrivateKey, embed: str) -> None:
    """Drop the last record and sign a consistent manifest for what is left with `key`,
    embedding `embed` as the manifest's public key."""
    exported.write_lines(exported.lines()[:-1])
    records = read_records(exported.path)
    manifest = exported.manifest()
    manifest.update(
        records=len(records),
        record_chain=records[-1]["chain"],
        file_sha256=hashlib.sha256(exported.path.read_bytes()).hexdigest(),
        time_range={"first": records[0]["timestamp"], "last": records[-1]["timestamp"]},
        public_key=embed,
    )
    manifest.pop("signature")
    manifest["signature"] = base64.b64encode(key.sign(manifest_message(manifest))).decode()
    exported.write_manifest(manifest)


def test_a_manifest_re_signed_with_another_key_fails_against_the_ledgers_key(
    ledger: Ledger, exported: Export
) -> None:
    ledgers_key = ledger.ok("info")["signing_public_key"]
    forger = Ed25519PrivateKey.generate()
    forge_without_last_record(exported, forger, embed=public_key_of(forger))

    assert "signature does not verify" in tampered(exported.path, "--public-key", ledgers_key)
    # Without --public-key the manifest is checked against the key it embeds: it only proves
    # the export is consistent with itself. Only the ledger's key (from `info`, as the README's
    # example passes it) proves the ledger signed it.
    assert_intact(exported.path)
    assert exported.manifest()["public_key"] != ledgers_key


def test_a_manifest_re_signed_with_another_key_but_naming_the_ledgers_key_fails(
    ledger: Ledger, exported: Export
) -> None:
    ledgers_key = ledger.ok("info")["signing_public_key"]
    forge_without_last_record(exported, Ed25519PrivateKey.generate(), embed=ledgers_key)

    assert "signature does not verify" in tampered(exported.path)
    assert "signature does not verify" in tampered(exported.path, "--public-key", ledgers_key)


def test_a_missing_manifest_is_reported(exported: Export) -> None:
    exported.manifest_path.unlink()

    assert "manifest cannot be read" in tampered(exported.path)


def test_a_missing_export_file_is_bad_input_not_found_not_a_crash(exported: Export) -> None:
    exported.path.unlink()

    code, answer = verify(exported.path)

    assert (code, answer["error"]["code"]) == (2, "not_found")


# ---- a large export --------------------------------------------------------------------------


def test_a_large_export_is_anchored_every_thousand_records_and_verifies(
    ledger: Ledger, store: LedgerStore, tmp_path: Path
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", ADA, "--org", "acme")
    roles = ["viewer", "member", "admin"]
    grants = [(f"w{i % 11}", roles[i % 3]) for i in range(1600)]
    grant_directly(store, ADA, grants, T0 + timedelta(minutes=1))
    path = tmp_path / "ada.jsonl"

    result = export(ledger, path, "jsonl", "--user", ADA)

    assert result["records"] == 1601
    records = read_records(path)
    manifest = manifest_of(path)
    assert manifest["anchors"] == {"1000": records[999]["chain"]}
    assert manifest["record_chain"] == records[-1]["chain"]
    assert [r["position"] for r in records] == positions_of(store, store.account_id(ADA))
    assert_intact(path, "--public-key", ledger.ok("info")["signing_public_key"])

    # A record rewritten with every chain after it recomputed is caught at the next anchor.
    large = Export(path, "jsonl")
    large.edit(10, lambda record: record["details"].update({"role": "owner"}))
    large.rechain()
    assert named_record(path) == 1000
