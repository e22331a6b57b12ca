"""Compliance exports: one record per event, in recorded order, signed.

Streams the ledger in batches (bounded memory), cut at a signed checkpoint so that an auditor
knows exactly which state of the ledger the export reflects. The same range exported twice is
byte-identical, manifest included (Ed25519 signatures are deterministic).

JSON lines and CSV hold every event; OCSF lines hold the events OCSF has a class for
(projections.ocsf). Every instant is written to the millisecond, and an IPv4 client as IPv4.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from ledger.addresses import plain_ip
from ledger.checkpoints import take_checkpoint
from ledger.clock import SystemClock, format_instant_ms
from ledger.events import LedgerEvent
from ledger.geolocation import locate
from ledger.organisation import Organisation
from ledger.private_files import open_private
from ledger.session import Session
from ledger.signing import public_key_text
from ledger.store import LedgerStore
from projections.export_files import (
    ANCHOR_EVERY,
    GENESIS,
    RECORD_FORMATS,
    manifest_message,
    manifest_path,
    next_chain,
)
from projections.forensics import Forensics
from projections.framework import ERASED
from projections.ocsf import Exported, Person, has_ocsf_line, to_ocsf

BATCH = 2000
Format = Literal["jsonl", "csv", "ocsf"]


@dataclass(frozen=True)
class Scope:
    """Whose events: one account, one organisation (with its members) or everything."""

    kind: Literal["user", "org", "all"]
    name: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    records: int
    checkpoint: int


class Exporter:
    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.forensics = Forensics(store, instant=format_instant_ms)
        self._orgs: dict[UUID, str] = {}
        self._accounts: dict[UUID, tuple[str | None, UUID] | None] = {}
        self._attempted: dict[UUID, str | None] = {}

    def export(
        self,
        scope: Scope,
        since: datetime | None,
        until: datetime | None,
        fmt: Format,
        out: Path,
        progress: Callable[[int], None] | None = None,
    ) -> ExportResult:
        checkpoint = take_checkpoint(
            self.store.database,
            self.store.signing_key,
            SystemClock().now(),
            self.store.checkpoint_anchor,
            up_to=self.store.head_position(),
        )
        cut = checkpoint.notification_id if checkpoint else 0
        wanted = self._wanted(scope)

        def keep(event: LedgerEvent) -> bool:
            return wanted(event) and _within(event.timestamp, since, until)

        codec = RECORD_FORMATS[fmt]
        chain, count, anchors = GENESIS, 0, {}
        first = last = None
        file_digest = hashlib.sha256()
        with open_private(out) as f:  # never over an existing file (the CLI checks first, too)
            f.write(codec.header)
            file_digest.update(codec.header)
            for at, record in self._records(cut, keep, fmt, progress):
                encoded = codec.encode(record)
                chain = next_chain(chain, encoded)
                line = codec.line(record, encoded, chain)
                f.write(line)
                file_digest.update(line)
                count += 1
                first, last = min(first or at, at), max(last or at, at)
                if count % ANCHOR_EVERY == 0:
                    anchors[str(count)] = chain
        manifest: dict[str, Any] = {
            "format": fmt,
            "scope": scope.as_dict(),
            "from": since and format_instant_ms(since),
            "to": until and format_instant_ms(until),
            "records": count,
            "time_range": {"first": first, "last": last},
            "record_chain": chain,
            "anchors": anchors,
            "file": out.name,
            "file_sha256": file_digest.hexdigest(),
            "checkpoint": {
                "notification_id": cut,
                "log_hash": checkpoint.log_hash.hex() if checkpoint else None,
                "signature": base64.b64encode(checkpoint.signature).decode()
                if checkpoint
                else None,
            },
            "public_key": public_key_text(self.store.signing_key),
        }
        signature = self.store.signing_key.sign(manifest_message(manifest))
        manifest["signature"] = base64.b64encode(signature).decode()
        with open_private(manifest_path(out)) as manifest_file:
            manifest_file.write(json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
        return ExportResult(out, count, cut)

    def _records(
        self,
        cut: int,
        keep: Callable[[LedgerEvent], bool],
        fmt: Format,
        progress: Callable[[int], None] | None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(the event's instant, its record in `fmt`) for each event kept, in recorded order."""
        for position, event in self._events(cut, progress):
            if not keep(event) or (fmt == "ocsf" and not has_ocsf_line(event)):
                continue
            record, client = self._record(position, event)
            at = record["timestamp"]
            yield at, self._ocsf(event, record, client) if fmt == "ocsf" else record

    def _events(
        self, cut: int, progress: Callable[[int], None] | None
    ) -> Iterator[tuple[int, LedgerEvent]]:
        start = 1
        while start <= cut:
            batch = self.store.app.recorder.select_notifications(start=start, limit=BATCH, stop=cut)
            if not batch:
                return
            for notification in batch:
                event = self.store.app.mapper.to_domain_event(notification)
                assert isinstance(event, LedgerEvent)
                yield notification.id, event
            if progress is not None:
                progress(len(batch))
            start = batch[-1].id + 1

    def _wanted(self, scope: Scope) -> Callable[[LedgerEvent], bool]:
        if scope.kind == "all":
            return lambda event: True
        if scope.kind == "user":
            assert scope.name is not None
            account_id = self.store.account(scope.name).id
            return lambda event: _subject(event) == account_id
        org_id = self.store.organisation(scope.name or "").id
        return lambda event: event.originator_id == org_id or self._org_of(event) == org_id

    def _org_of(self, event: LedgerEvent) -> UUID | None:
        account = self._account(_subject(event))
        return account[1] if account else None

    def _account(self, stream: UUID) -> tuple[str | None, UUID] | None:
        """An account stream's e-mail and organisation (loaded once per stream)."""
        if stream not in self._accounts:
            account = self.store.app.find_account(stream)
            self._accounts[stream] = (
                (self.forensics.open(account.email), account.org_id) if account else None
            )
        return self._accounts[stream]

    def _record(self, position: int, event: LedgerEvent) -> tuple[dict[str, Any], Any]:
        """The record, and the client the event names (its own field, not one of the record's)."""
        described = self.forensics.describe(event)
        details = dict(sorted(described["details"].items()))
        client = details.pop("client", None)
        is_org = isinstance(event, Organisation.Event)
        ip = described["ip"]
        record = {
            "position": position,
            "timestamp": described["timestamp"],
            "account": None if is_org else self._account_email(_subject(event)),
            "org": self._org_slug(event.originator_id if is_org else self._org_of(event)),
            "event": described["event"],
            "actor": described["actor"],
            "ip": plain_ip(ip) if ip and ip != ERASED else ip,
            "location": client.get("location") if isinstance(client, dict) else self._location(ip),
            "user_agent": self.forensics.open(event.user_agent),
            "details": details,
        }
        return record, client

    def _ocsf(self, event: LedgerEvent, record: dict[str, Any], client: Any) -> dict[str, Any]:
        """The record as an OCSF event, naming whom the event is about."""
        country = client.get("country_code") if isinstance(client, dict) else None
        if country is None and record["ip"] and record["ip"] != ERASED:
            country = locate(record["ip"]).country_code
        return to_ocsf(Exported(event, record, self._person(event), country))

    def _person(self, event: LedgerEvent) -> Person:
        """The account the event is about (the admin made, for an organisation's AdminAdded),
        or the address tried when there is no account."""
        stream = event.account_id if isinstance(event, Organisation.AdminAdded) else _subject(event)
        account = self._account(stream)
        if account is None:
            return Person(None, self._attempted_email(stream))
        email, org_id = account
        return Person(stream, email, self._org_slug(org_id), org_id)

    def _attempted_email(self, stream: UUID) -> str | None:
        """The address of a stream of sign-in attempts for an address with no account."""
        if stream not in self._attempted:
            attempts = self.store.app.find_unknown_account_attempts(stream)
            self._attempted[stream] = self.forensics.open(attempts.email) if attempts else None
        return self._attempted[stream]

    def _account_email(self, stream: UUID) -> str | None:
        account = self._account(stream)
        return account[0] if account else None

    @staticmethod
    def _location(ip: str | None) -> str | None:
        return locate(ip).label if ip and ip != ERASED else None

    def _org_slug(self, org_id: UUID | None) -> str | None:
        if org_id is None:
            return None
        if org_id not in self._orgs:
            org = self.store.app.find_organisation(org_id)
            self._orgs[org_id] = org.slug if org else "?"
        return self._orgs[org_id]


def _subject(event: LedgerEvent) -> UUID:
    """The stream the event is about: a session's events are its account's."""
    return event.account_id if isinstance(event, Session.Event) else event.originator_id


def _within(instant: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or instant >= since) and (until is None or instant < until)
