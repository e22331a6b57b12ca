"""Forensics straight from the ledger, never from read models: what happened on a day, and what
an account looked like at an instant (the aggregate and its sessions replayed to the versions
current then).

The time index (`ledger_chain.recorded_at`, written with each event, and `subject_id`, which
files a session's events under its account) finds the versions, and snapshots keep replays
short for accounts and sessions with long histories.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.account import Account
from ledger.clock import format_instant, stored_instant
from ledger.errors import AccountNotFound, NotYetCreated
from ledger.events import LedgerEvent
from ledger.organisation import Organisation
from ledger.session import API_KEY_IDLE_LIMIT, IDLE_LIMIT, Session
from ledger.sign_in import SESSION_IDLE_LIMIT, SsoPolicy
from ledger.store import LedgerStore
from projections.framework import ERASED
from projections.phone import mask_phone

BASE_FIELDS = {
    "originator_id",
    "originator_version",
    "timestamp",
    "actor_id",
    "ip",
    "user_agent",
    "originator_topic",
}
# Never shown, even to an auditor: secrets and what could be used to guess them.
HIDDEN_FIELDS = {
    "secret",
    "code_hash",
    "token_hash",
    "key_hash",
    "hashes",
    "salt",
    "nonce",
    "password_hash",
    "recovery_code_hash",
}


class Forensics:
    def __init__(
        self, store: LedgerStore, instant: Callable[[datetime], str] = format_instant
    ) -> None:
        """`instant` writes the instants `describe` shows (exports fix their precision)."""
        self.store = store
        self.instant = instant
        self._emails: dict[UUID, str] = {}

    # ---- timeline ----------------------------------------------------------------------------

    def timeline(self, email: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every event of the account and its sessions in [start, end), in recorded order."""
        account_id = self._existing(email)
        table, position = self.store.event_table, self.store.event_position
        joined = f"ledger_chain c JOIN {table} e ON e.{position} = c.notification_id"
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT e.originator_id, e.originator_version, e.topic, e.state "  # noqa: S608
                f"FROM {joined} WHERE (c.originator_id = ? OR c.subject_id = ?) "
                "AND c.recorded_at >= ? AND c.recorded_at < ? ORDER BY c.notification_id",
                (str(account_id), str(account_id), stored_instant(start), stored_instant(end)),
            )
        mapper = self.store.app.mapper
        events = [
            mapper.to_domain_event(StoredEvent(UUID(str(stream)), version, topic, bytes(state)))
            for stream, version, topic, state in rows
        ]
        return [self.describe(event) for event in events]  # type: ignore[arg-type]

    def describe(self, event: LedgerEvent) -> dict[str, Any]:
        details: dict[str, Any] = {}
        for name, value in event.model_dump(mode="json", exclude_unset=True).items():
            if name in BASE_FIELDS or name in HIDDEN_FIELDS:
                continue
            field = getattr(event, name)
            details[name] = (
                self.instant(field) if isinstance(field, datetime) else self._readable(name, value)
            )
        return {
            "timestamp": self.instant(event.timestamp),
            "event": event_name(event),
            "actor": self.email_of(event.actor_id),
            "ip": self.open(event.ip),
            "details": details,
        }

    def _readable(self, name: str, value: Any) -> Any:
        if not (isinstance(value, str) and value.startswith("sealed:")):
            return value
        opened = self.open(value)
        if opened is None or opened == ERASED:
            return ERASED
        if name == "phone":
            return mask_phone(opened)
        if name == "client":
            return json.loads(opened)
        if name == "sso_evidence":
            evidence = json.loads(opened)
            if evidence.get("auth_time"):
                evidence["auth_time"] = self.instant(datetime.fromisoformat(evidence["auth_time"]))
            return evidence
        return opened

    # ---- state as of an instant ----------------------------------------------------------------

    def state(self, email: str, as_of: datetime) -> dict[str, Any]:
        account = replayed_to(self.store, self._existing(email), as_of)
        if account is None:
            raise NotYetCreated(f"{email} had no account at {format_instant(as_of)}")
        assert isinstance(account, Account)
        org = replayed_to(self.store, account.org_id, as_of)
        assert isinstance(org, Organisation)
        return {
            "as_of": format_instant(as_of),
            "mfa": self._mfa(account, org),
            "sessions": sorted(
                self._sessions(account, as_of)
                + self._streamed_sessions(account, org.sso_policy(), as_of),
                key=lambda session: str(session["last_activity"]),
                reverse=True,
            ),
            "workspaces": [
                {"workspace": w, "role": r} for w, r in sorted(account.workspaces.items())
            ],
            "org": {"slug": org.slug, "requires_mfa": org.requires_mfa, "sso": org.sso},
        }

    def _mfa(self, account: Account, org: Organisation) -> dict[str, Any]:
        phone = self.open(account.sms_phone) if account.sms_phone else None
        return {
            "totp": {
                "enabled": account.totp_secret is not None,
                "enrolled_at": account.totp_enabled_at and format_instant(account.totp_enabled_at),
            },
            "sms": {"enabled": account.sms_phone is not None, "phone": mask_phone(phone)},
            "recovery_codes": {
                "remaining": len(account.recovery_hashes),
                "generated_at": account.recovery_generated_at
                and format_instant(account.recovery_generated_at),
            },
            "org_requires_mfa": org.requires_mfa,
        }

    def _sessions(self, account: Account, as_of: datetime) -> list[dict[str, Any]]:
        active = []
        for session_id, session in account.sessions.items():
            if as_of - session["last_activity"] > SESSION_IDLE_LIMIT:
                continue
            client = self._readable("client", session["client"])
            active.append(
                {
                    "session_id": session_id,
                    "created": format_instant(session["created_at"]),
                    "last_activity": format_instant(session["last_activity"]),
                    **(
                        {k: client.get(k) for k in ("ip", "location", "browser", "os", "device")}
                        if isinstance(client, dict)
                        else {"ip": ERASED}
                    ),
                }
            )
        return active

    def _streamed_sessions(
        self, account: Account, sso: SsoPolicy | None, as_of: datetime
    ) -> list[dict[str, Any]]:
        """Sessions with streams of their own active at `as_of`, each replayed to then."""
        standing = account.session_standing(sso)
        active = []
        for stream, version in self._session_versions(account.id, as_of):
            session: object = self.store.app.repository.get(stream, version=version)
            assert isinstance(session, Session)
            if session.is_active(as_of, standing):
                active.append(self._session(session))
        return active

    def _session_versions(self, account_id: UUID, as_of: datetime) -> list[tuple[UUID, int]]:
        """The account's sessions that may be active at `as_of`, each with its version then:
        those with an event in the hour before it, and those with one in the 30 days before it
        that an API key did not open (an automation's thousands of sessions are not replayed)."""
        with self.store.database.transaction() as tx:
            rows = tx.fetchall(
                "SELECT originator_id, MAX(originator_version), MAX(recorded_at) "
                "FROM ledger_chain WHERE subject_id = ? AND recorded_at <= ? "
                "GROUP BY originator_id HAVING MAX(recorded_at) >= ?",
                (str(account_id), stored_instant(as_of), stored_instant(as_of - IDLE_LIMIT)),
            )
        last_hour = stored_instant(as_of - API_KEY_IDLE_LIMIT)
        idle_key_sessions = self._opened_by_api_key(
            [str(stream) for stream, _, last in rows if str(last) < last_hour]
        )
        return [
            (UUID(str(stream)), int(version))
            for stream, version, _ in rows
            if str(stream) not in idle_key_sessions
        ]

    def _opened_by_api_key(self, streams: list[str]) -> set[str]:
        """Which of these session streams an API key opened (read off their first events)."""
        table, position = self.store.event_table, self.store.event_position
        joined = f"ledger_chain c JOIN {table} e ON e.{position} = c.notification_id"
        found: set[str] = set()
        for start in range(0, len(streams), 500):
            chunk = streams[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            with self.store.database.transaction() as tx:
                rows = tx.fetchall(
                    f"SELECT c.originator_id, e.state FROM {joined} "  # noqa: S608
                    f"WHERE c.originator_version = 1 AND c.originator_id IN ({marks})",
                    chunk,
                )
            found |= {
                str(stream)
                for stream, state in rows
                if json.loads(bytes(state)).get("opened_by") == "api_key"
            }
        return found

    def _session(self, session: Session) -> dict[str, Any]:
        client = self._readable("client", session.client)
        return {
            "session_id": session.session_id,
            "opened_by": session.opened_by,
            "key_id": session.key_id,
            "created": format_instant(session.created_on),
            "last_activity": format_instant(session.last_activity),
            **(
                {k: client.get(k) for k in ("ip", "location", "browser", "os", "device")}
                if isinstance(client, dict)
                else {"ip": ERASED}
            ),
        }

    # ---- helpers -----------------------------------------------------------------------------

    def _existing(self, email: str) -> UUID:
        """The account's id, checked against the time index (no need to replay it)."""
        account_id = self.store.account_id(email)
        with self.store.database.transaction() as tx:
            row = tx.fetchone(
                "SELECT originator_version FROM ledger_chain "
                "WHERE originator_id = ? AND originator_version = 1",
                (str(account_id),),
            )
        if row is None:
            raise AccountNotFound(email)
        return account_id

    def open(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        return self.store.keyring.open(sealed) or ERASED

    def email_of(self, actor_id: UUID | None) -> str | None:
        if actor_id is None:
            return None
        if actor_id not in self._emails:
            account = self.store.app.find_account(actor_id)
            self._emails[actor_id] = (self.open(account.email) or ERASED) if account else "system"
        return self._emails[actor_id]


def replayed_to(store: LedgerStore, stream: UUID, as_of: datetime) -> object | None:
    """The aggregate as it stood at `as_of` (replayed to the version current then); None if
    it did not exist yet."""
    version = version_at(store, stream, as_of)
    return None if version is None else store.app.repository.get(stream, version=version)


def version_at(store: LedgerStore, stream: UUID, as_of: datetime) -> int | None:
    """The stream's last version recorded at or before `as_of` (the chain's time index);
    None if it did not exist yet."""
    with store.database.transaction() as tx:
        row = tx.fetchone(
            "SELECT MAX(originator_version) FROM ledger_chain "
            "WHERE originator_id = ? AND recorded_at <= ?",
            (str(stream), stored_instant(as_of)),
        )
    return None if row is None or row[0] is None else int(row[0])


def event_name(event: LedgerEvent) -> str:
    """The event's class name; creation events are named after their aggregate."""
    name = type(event).__name__
    if name == "Created":
        return type(event).__qualname__.split(".")[0] + "Created"
    if isinstance(event, Session.Event):
        return f"Session{name}"  # SessionOpened, SessionActivityRecorded, SessionSignedOut
    return name
