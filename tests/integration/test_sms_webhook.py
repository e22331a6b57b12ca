"""The webhook SMS gateway against a real HTTP server on the loopback interface.

The server stands in for the SMS provider: it records every JSON body POSTed to it and answers
with the status the test chose.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ledger.sms_gateway import GATEWAY_ENV, WEBHOOK_URL_ENV
from tests.cli.test_sms import PHONE, code_in
from tests.conftest import Ledger

LOOPBACK = "127.0.0.1"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy")


@dataclass(frozen=True)
class Delivery:
    path: str
    content_type: str
    message: dict[str, Any]


class SmsProvider(ThreadingHTTPServer):
    """Records each POST and answers `status` (204 unless a test says otherwise)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), RecordingHandler)
        self.deliveries: list[Delivery] = []
        self.status = HTTPStatus.NO_CONTENT

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_port}/sms"

    def messages_to(self, phone: str) -> list[dict[str, Any]]:
        return [d.message for d in self.deliveries if d.message["to"] == phone]


class RecordingHandler(BaseHTTPRequestHandler):
    server: SmsProvider
    timeout = 5  # a stalled client never holds a handler thread for long

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        content_type = self.headers.get("Content-Type", "")
        self.server.deliveries.append(Delivery(self.path, content_type, body))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


def deliver_through_webhook(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv(GATEWAY_ENV, "webhook")
    monkeypatch.setenv(WEBHOOK_URL_ENV, url)
    for variable in PROXY_VARIABLES:  # the request must go straight to the loopback server
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmsProvider]:
    server = SmsProvider()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    deliver_through_webhook(monkeypatch, server.url)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL nobody listens on: the port was free a moment ago and is closed again."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    return f"http://{LOOPBACK}:{port}/sms"


def enrol(ledger: Ledger, email: str) -> None:
    ledger.ok("mfa", "sms", "enrol", email, "--phone", PHONE)


def enable_sms(ledger: Ledger, email: str, provider: SmsProvider) -> None:
    enrol(ledger, email)
    code = code_in(provider.messages_to(PHONE)[-1]["body"])
    assert ledger.ok("mfa", "sms", "confirm", email, code)["enabled"] is True


# ---- delivered --------------------------------------------------------------------------


def test_the_confirmation_code_is_posted_to_the_webhook_and_enables_sms(
    ledger: Ledger, account: str, provider: SmsProvider
) -> None:
    enrol(ledger, account)

    [delivery] = provider.deliveries
    assert delivery.path == "/sms"
    assert delivery.content_type == "application/json"
    assert set(delivery.message) == {"to", "body", "sent_at"}
    assert delivery.message["to"] == PHONE
    assert delivery.message["sent_at"] == "2026-11-14T09:00:00Z"
    code = code_in(delivery.message["body"])
    assert ledger.ok("mfa", "sms", "confirm", account, code)["enabled"] is True
    assert ledger.ok("mfa", "status", account)["sms"] == {"enabled": True, "phone": "+1•••••0123"}


def test_sign_in_codes_are_posted_to_the_webhook_too(
    ledger: Ledger, account: str, provider: SmsProvider
) -> None:
    enable_sms(ledger, account, provider)

    ledger.later(minutes=5).ok("mfa", "sms", "send-code", account)

    sign_in = provider.messages_to(PHONE)[-1]
    assert len(provider.deliveries) == 2
    assert sign_in["sent_at"] == "2026-11-14T09:05:00Z"
    code = code_in(sign_in["body"])
    assert ledger.ok("mfa", "sms", "verify", account, code)["verified"] is True


def test_the_outbox_stays_empty_when_texts_go_to_the_webhook(
    ledger: Ledger, account: str, provider: SmsProvider
) -> None:
    enable_sms(ledger, account, provider)
    ledger.ok("mfa", "sms", "send-code", account)

    assert len(provider.deliveries) == 2
    assert ledger.ok("sms", "outbox") == []


# ---- not delivered --------------------------------------------------------------------------


def test_a_webhook_answering_500_is_a_delivery_failure_and_enrolling_again_works(
    ledger: Ledger, account: str, provider: SmsProvider
) -> None:
    provider.status = HTTPStatus.INTERNAL_SERVER_ERROR

    error = ledger.refused(
        "mfa", "sms", "enrol", account, "--phone", PHONE, code="sms_delivery_failed"
    )

    assert "500" in error["error"]["message"]
    assert len(provider.deliveries) == 1  # it reached the provider, which turned it down
    assert ledger.ok("mfa", "status", account)["sms"]["enabled"] is False
    provider.status = HTTPStatus.NO_CONTENT
    enable_sms(ledger.later(minutes=1), account, provider)


def test_a_sign_in_code_the_webhook_refuses_is_a_delivery_failure(
    ledger: Ledger, account: str, provider: SmsProvider
) -> None:
    enable_sms(ledger, account, provider)
    provider.status = HTTPStatus.INTERNAL_SERVER_ERROR

    ledger.refused("mfa", "sms", "send-code", account, code="sms_delivery_failed")


def test_an_unreachable_webhook_is_a_delivery_failure(
    ledger: Ledger, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_through_webhook(monkeypatch, closed_port_url())

    error = ledger.refused(
        "mfa", "sms", "enrol", account, "--phone", PHONE, code="sms_delivery_failed"
    )

    assert "could not be reached" in error["error"]["message"]
    assert ledger.ok("sms", "outbox") == []


@pytest.mark.parametrize(
    "gateway, url",
    [("webhook", ""), ("webhook", "ftp://example.test/sms"), ("carrier-pigeon", "")],
)
def test_a_misconfigured_gateway_refuses_before_anything_is_recorded(
    ledger: Ledger, account: str, monkeypatch: pytest.MonkeyPatch, gateway: str, url: str
) -> None:
    monkeypatch.setenv(GATEWAY_ENV, gateway)
    monkeypatch.setenv(WEBHOOK_URL_ENV, url)
    before = ledger.event_count()

    ledger.refused(
        "mfa", "sms", "enrol", account, "--phone", PHONE, code="sms_gateway_misconfigured"
    )

    assert ledger.event_count() == before
