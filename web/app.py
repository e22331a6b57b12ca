"""The ASGI application behind `flero-ledger serve`: the JSON API and the Security tab page.

This module wires things together and answers errors; rules live in the ledger, and the two
routers (web/api.py, web/pages.py) only translate between HTTP and commands or queries.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from eventsourcing.persistence import OperationalError, RecordConflictError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.clock import Clock, SystemClock
from ledger.errors import LedgerError, LoginDenied, MfaEnrolmentRequired, TooManyTexts
from ledger.store_location import DB_ENV, StoreLocation
from web.answers import error, input_problem, login_refused, retry_after
from web.api import api_router
from web.ledger_access import (
    SESSION_COOKIE,
    ForgedForm,
    IpNetwork,
    LedgerAccess,
    NotSignedIn,
    parse_forwarded_allow_ips,
)
from web.metrics import RequestTimer, operations_router
from web.pages import pages_router

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action {forms}; frame-ancestors 'none'; base-uri 'none'"
)
# Where forms may lead. The sign-in page's "Sign in with SSO" form is answered with a redirect
# to the organisation's identity provider, and browsers hold redirects after a form to
# form-action too: there it also allows the places an issuer may be (see commands.inputs).
FORM_ACTIONS = "'self'"
SIGN_IN_FORM_ACTIONS = "'self' https: http://127.0.0.1:* http://localhost:* http://[::1]:*"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(forms=FORM_ACTIONS),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
FORBIDDEN = {
    "admin_required",
    "reauthentication_required",
    "mfa_required_by_org",
    "sso_required",
    "mfa_enrolment_required",
}
NOT_FOUND = {"unknown_user", "unknown_session", "unknown_api_key", "unknown_org"}
FORWARDED_ALLOW_IPS_ENV = "FLERO_LEDGER_FORWARDED_ALLOW_IPS"  # `serve` sets it for its workers
MAX_BODY = 64 * 1024  # bytes: the largest request any form or API call needs is a few hundred


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if request.url.path.startswith("/signin"):
            policy = CONTENT_SECURITY_POLICY.format(forms=SIGN_IN_FORM_ACTIONS)
            response.headers["Content-Security-Policy"] = policy
        return response


class BodyLimit:
    """Reads a request's whole body, at most MAX_BODY bytes, before the app sees the request:
    anything larger (declared, or chunked and growing) is answered 413 and no handler runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_length(scope) > MAX_BODY:
            await too_large()(scope, receive, send)
            return
        body, message = bytearray(), await receive()
        while message["type"] == "http.request":
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": bytes(body), "more_body": False}
                break
            message = await receive()
        pending = [message]  # the whole body in one message, or the client's disconnect

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


def declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # the server refuses a malformed one
    return 0


def too_large() -> Response:
    return error(413, "payload_too_large", f"a request body may hold at most {MAX_BODY} bytes")


def create_app(
    location: StoreLocation,
    clock: Clock | None = None,
    forwarded_allow_ips: Sequence[IpNetwork] = (),
) -> FastAPI:
    """The app over the store at `location`; `clock` is the wall clock unless a test moves it.

    `forwarded_allow_ips`: the proxies whose X-Forwarded-For is believed (none by default; see
    `web.ledger_access.parse_forwarded_allow_ips`).
    """
    access = LedgerAccess(location, clock or SystemClock(), forwarded_allow_ips)
    app = FastAPI(
        title="Flero security ledger",
        summary="The Security tab's API: MFA, sessions, login history, audit log, exports.",
        version="0.1.0",
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestTimer)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: on every answer, 413 too
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), "static")
    app.include_router(api_router(access))
    app.include_router(pages_router(access))
    app.include_router(operations_router(access))

    def for_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if for_api(request):
            message = "a valid session token is required (Authorization: Bearer)"
            return error(401, "not_signed_in", message, {"WWW-Authenticate": "Bearer"})
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @app.exception_handler(ForgedForm)
    def forged(_: Request, __: ForgedForm) -> Response:
        return error(403, "csrf_failed", "this form did not come from this site's page; reload it")

    @app.exception_handler(MfaEnrolmentRequired)
    def enrolment_first(request: Request, refusal: MfaEnrolmentRequired) -> Response:
        """A session restricted by the organisation's MFA requirement: the API refuses, the
        page goes back to the Security tab, which shows it only enrolment."""
        if for_api(request):
            return error(403, refusal.code, refusal.message)
        return RedirectResponse("/security", status_code=303)

    @app.exception_handler(LoginDenied)
    def denied(_: Request, refusal: LoginDenied) -> Response:
        return login_refused(refusal)

    @app.exception_handler(TooManyTexts)
    def too_many_texts(_: Request, refusal: TooManyTexts) -> Response:
        return error(429, refusal.code, refusal.message, retry_after(refusal))

    @app.exception_handler(LedgerError)
    def refused(_: Request, refusal: LedgerError) -> Response:
        status = 403 if refusal.code in FORBIDDEN else 404 if refusal.code in NOT_FOUND else 409
        return error(status, refusal.code, refusal.message)

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    def invalid(_: Request, problem: RequestValidationError | ValidationError) -> Response:
        return error(422, "invalid_input", input_problem(problem.errors()[0]))

    @app.exception_handler(RecordConflictError)
    def busy(_: Request, __: RecordConflictError) -> Response:
        """Only after every retry lost its race (commands.retry): nothing was recorded."""
        message = "the account changed under too many concurrent requests; try again"
        return error(503, "concurrent_change", message, {"Retry-After": "1"})

    @app.exception_handler(OperationalError)
    @app.exception_handler(sqlite3.DatabaseError)
    def unavailable(_: Request, problem: Exception) -> Response:
        return error(503, "store_unavailable", "the store is unavailable; try again shortly")

    return app


def app_from_environment() -> FastAPI:
    """The app each of `serve`'s workers runs: the store at FLERO_LEDGER_DB (or the default
    one), the proxies in FORWARDED_ALLOW_IPS_ENV."""
    proxies = parse_forwarded_allow_ips(os.environ.get(FORWARDED_ALLOW_IPS_ENV, ""))
    return create_app(StoreLocation.parse(os.environ.get(DB_ENV)), forwarded_allow_ips=proxies)
