"""The ASGI application behind `flero-ledger serve`: the JSON API and the Security tab page.

This module wires things together and answers errors; rules live in the ledger, and the two
routers (web/api.py, web/pages.py) only translate between HTTP and commands or queries.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from commands.inputs import validation_message
from ledger.clock import Clock, SystemClock
from ledger.errors import LedgerError, LoginDenied
from ledger.store_location import StoreLocation
from web.api import api_router
from web.ledger_access import SESSION_COOKIE, ForgedForm, LedgerAccess, NotSignedIn
from web.pages import pages_router

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
FORBIDDEN = {"admin_required", "reauthentication_required", "mfa_required_by_org"}
NOT_FOUND = {"unknown_user", "unknown_session", "unknown_api_key", "unknown_org"}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


def create_app(location: StoreLocation, clock: Clock | None = None) -> FastAPI:
    """The app over the store at `location`; `clock` is the wall clock unless a test moves it."""
    access = LedgerAccess(location, clock or SystemClock())
    app = FastAPI(
        title="Flero security ledger",
        summary="The Security tab's API: MFA, sessions, login history, audit log, exports.",
        version="0.1.0",
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), "static")
    app.include_router(api_router(access))
    app.include_router(pages_router(access))

    def for_api(request: Request) -> bool:
        return request.url.path.startswith("/api")

    @app.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if for_api(request):
            return error(401, "not_signed_in", "a valid session token is required (Bearer)")
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @app.exception_handler(ForgedForm)
    def forged(_: Request, __: ForgedForm) -> Response:
        return error(
            403, "csrf_failed", "this form did not come from your Security page; reload it"
        )

    @app.exception_handler(LoginDenied)
    def denied(_: Request, refusal: LoginDenied) -> Response:
        return JSONResponse({"outcome": "failed", "reason": refusal.reason}, 401)

    @app.exception_handler(LedgerError)
    def refused(_: Request, refusal: LedgerError) -> Response:
        status = 403 if refusal.code in FORBIDDEN else 404 if refusal.code in NOT_FOUND else 409
        return error(status, refusal.code, refusal.message)

    @app.exception_handler(ValidationError)
    def invalid(_: Request, problem: ValidationError) -> Response:
        return error(422, "invalid_input", validation_message(problem))

    @app.exception_handler(OperationalError)
    @app.exception_handler(sqlite3.DatabaseError)
    def unavailable(_: Request, problem: Exception) -> Response:
        return error(503, "store_unavailable", "the store is unavailable; try again shortly")

    return app


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)
