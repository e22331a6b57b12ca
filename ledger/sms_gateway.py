"""Delivering texts: an `SmsGateway` interface, the development outbox and a webhook.

Choose with FLERO_LEDGER_SMS_GATEWAY=outbox|webhook (outbox by default). The webhook gateway
POSTs `{"to": ..., "body": ...}` as JSON to FLERO_LEDGER_SMS_WEBHOOK_URL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledger.clock import display_instant, format_instant, stored_instant
from ledger.database import Database
from ledger.errors import SmsDeliveryFailed, SmsGatewayMisconfigured

GATEWAY_ENV = "FLERO_LEDGER_SMS_GATEWAY"
WEBHOOK_URL_ENV = "FLERO_LEDGER_SMS_WEBHOOK_URL"


@dataclass(frozen=True)
class TextMessage:
    to: str
    body: str
    sent_at: datetime


class SmsGateway(Protocol):
    def send(self, message: TextMessage) -> None: ...


class OutboxGateway:
    """Keeps messages in the store so that `sms outbox` can show them (development, tests)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def send(self, message: TextMessage) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT INTO sms_outbox (recipient, body, sent_at) VALUES (?, ?, ?)",
                (message.to, message.body, stored_instant(message.sent_at)),
            )

    def messages(self, to: str | None = None) -> list[dict[str, str]]:
        """Newest first."""
        sql = "SELECT recipient, body, sent_at FROM sms_outbox"
        params: tuple[str, ...] = ()
        if to is not None:
            sql += " WHERE recipient = ?"
            params = (to,)
        with self._db.transaction() as tx:
            rows = tx.fetchall(sql + " ORDER BY id DESC", params)
        return [
            {
                "to": r[0],
                "body": r[1],
                "sent_at": display_instant(r[2]),
            }
            for r in rows
        ]


class WebhookGateway:
    """POSTs each message as JSON; any non-2xx answer or network error is a delivery failure."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise SmsGatewayMisconfigured(f"{WEBHOOK_URL_ENV} must be an http(s) URL")
        self._url = url
        self._timeout = timeout

    def send(self, message: TextMessage) -> None:
        import urllib.error
        import urllib.request

        payload = json.dumps(
            {"to": message.to, "body": message.body, "sent_at": format_instant(message.sent_at)}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            self._url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                status = response.status
        except (urllib.error.URLError, OSError) as error:
            raise SmsDeliveryFailed(f"the SMS webhook could not be reached: {error}") from None
        if not 200 <= status < 300:
            raise SmsDeliveryFailed(f"the SMS webhook answered {status}")


def configured_gateway(database: Database) -> SmsGateway:
    kind = os.environ.get(GATEWAY_ENV, "outbox")
    if kind == "outbox":
        return OutboxGateway(database)
    if kind == "webhook":
        return WebhookGateway(os.environ.get(WEBHOOK_URL_ENV, ""))
    raise SmsGatewayMisconfigured(f"{GATEWAY_ENV} must be 'outbox' or 'webhook', not {kind!r}")
