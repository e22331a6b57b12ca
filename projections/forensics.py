"""Forensics straight from the ledger, never from read models: what happened on a day, and what
an account looked like at an instant (the aggregate replayed to the version current then).

The time index (`ledger_chain.recorded_at`, written with each event) finds the versions, and
snapshots keep replays short for accounts with long histories.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.account import Account
from ledger.clock import format_instant, stored_instant
from ledger.errors import AccountNotFound, NotYetCreated
from ledger.events import LedgerEvent
from ledger.organisation import Organisation
from ledger.sign_in import SESSION_IDLE_LIMIT
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
    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._emails: dict[UUID, str] = {}

    # ---- timeline ----------------------------------------------------------------------------

    def timeline(self, email: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every event of the account in [start, end), oldest first."""
        account_id = self._existing(email)
        versions = self._versions(account_id, start, end)
        if not versions:
            return []
        events = self.store.app.events.get(account_id, gt=versions[0] - 1, lte=versions[1])
        return [self.describe(event) for event in events]  # type: ignore[arg-type]

    def _versions(self, stream: UUID, start: datetime, end: datetime) -> tuple[int, int] | None:
        with self.store.database.transaction() as tx:
            row = tx.fetchone(
                "SELECT MIN(originator_version), MAX(originator_version) FROM ledger_chain "
                "WHERE originator_id = ? AND recorded_at >= ? AND recorded_at < ?",
                (str(stream), stored_instant(start), stored_instant(end)),
            )
        return None if row is None or row[0] is None else (int(row[0]), int(row[1]))

    def describe(self, event: LedgerEvent) -> dict[str, Any]:
        details: dict[str, Any] = {}
        for name, value in event.model_dump(mode="json").items():
            if name in BASE_FIELDS or name in HIDDEN_FIELDS:
                continue
            details[name] = self._readable(name, value)
        return {
            "timestamp": format_instant(event.timestamp),
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
        if name in ("client", "sso_evidence"):
            return json.loads(opened)
        return opened

    # ---- state as of an instant ----------------------------------------------------------------

    def state(self, email: str, as_of: datetime) -> dict[str, Any]:
        account_id = self._existing(email)
        version = self._version_at(account_id, as_of)
        if version is None:
            raise NotYetCreated(f"{email} had no account at {format_instant(as_of)}")
        account: object = self.store.app.repository.get(account_id, version=version)
        assert isinstance(account, Account)
        org_version = self._version_at(account.org_id, as_of)
        org: object = self.store.app.repository.get(account.org_id, version=org_version)
        assert isinstance(org, Organisation)
        return {
            "as_of": format_instant(as_of),
            "mfa": self._mfa(account, org),
            "sessions": self._sessions(account, as_of),
            "workspaces": [
                {"workspace": w, "role": r} for w, r in sorted(account.workspaces.items())
            ],
            "org": {"slug": org.slug, "requires_mfa": org.requires_mfa, "sso": org.sso},
        }

    def _version_at(self, stream: UUID, as_of: datetime) -> int | None:
        with self.store.database.transaction() as tx:
            row = tx.fetchone(
                "SELECT MAX(originator_version) FROM ledger_chain "
                "WHERE originator_id = ? AND recorded_at <= ?",
                (str(stream), stored_instant(as_of)),
            )
        return None if row is None or row[0] is None else int(row[0])

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
        return sorted(active, key=lambda s: s["last_activity"], reverse=True)

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


def event_name(event: LedgerEvent) -> str:
    """The event's class name; creation events are named after their aggregate."""
    name = type(event).__name__
    if name == "Created":
        return type(event).__qualname__.split(".")[0] + "Created"
    return name
