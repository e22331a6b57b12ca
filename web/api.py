"""The JSON API: the command line's capabilities over HTTP, for the signed-in account.

Authenticated by a bearer session token only, never by the page's cookie. Shapes are the CLI's
`--json` documents. Disabling a factor or regenerating recovery codes needs a second factor
proven within ten minutes (`POST /api/mfa/totp/verify` or a sign-in with a factor); the ledger
enforces it.
"""

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import segno
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi import Path as UrlPath
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from commands import access, api_keys, factors, login, recovery_codes, sessions, sms, totp
from commands.inputs import Email
from ledger.clock import day_bounds, parse_instant
from ledger.errors import AccountNotFound
from projections import queries
from projections.compliance import compliance_report
from projections.exports import Exporter, Scope
from projections.forensics import Forensics
from projections.sessions import DEFAULT_PAGE, read_cursor
from web.ledger_access import LedgerAccess, Visitor
from web.metrics import sign_in_counted

Parsed = TypeVar("Parsed")
QUIET_ZONE = 4  # modules of light margin around a QR code (ISO/IEC 18004)


def qr_svg(uri: str) -> str:
    """The QR code as an inline SVG that scales to whatever box holds it: a viewBox in modules
    and no width or height of its own (the page sizes it by CSS), with the four-module quiet
    zone a scanner needs drawn white, so that a dark page around it cannot eat into it."""
    symbol = segno.make(uri, error="m")
    return symbol.svg_inline(border=QUIET_ZONE, dark="#000", light="#fff", omitsize=True)


def query_value(name: str, parse: Callable[[str], Parsed], text: str) -> Parsed:
    """`parse(text)`, or a 422 naming the query parameter (the ledger's parsers raise
    ValueError, which would otherwise be a 500)."""
    try:
        return parse(text)
    except ValueError as problem:
        loc = ("query", name)
        raise RequestValidationError(
            [{"type": "value_error", "loc": loc, "msg": str(problem), "input": text}]
        ) from None


def day_asked(
    on: Annotated[str, Query(max_length=32, description="a UTC day (2026-11-14) or an instant")],
) -> tuple[datetime, datetime]:
    return query_value("on", day_bounds, on)


def instant_asked(
    as_of: Annotated[str, Query(max_length=40, description="an ISO 8601 instant")],
) -> datetime:
    return query_value("as_of", parse_instant, as_of)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field this API does not know is a mistake


class Code(Body):
    code: Annotated[str, Field(max_length=64)]


class Phone(Body):
    phone: Annotated[str, Field(max_length=64)]


class FactorChoice(Body):
    factor: Literal["totp", "sms"]


class KeyName(Body):
    name: Annotated[str, Field(max_length=64)]


class SmsCodeRequest(Body):
    email: Annotated[str, Field(max_length=254)]


# The one answer to a request for a texted code, whoever holds the address (no probing).
SMS_CODE_ASKED = {
    "ok": True,
    "message": "if this address has a phone for sign-in, a code is on its way (valid 10 minutes)",
}


class SignInRequest(Body):
    """SSO is not here: it signs in through the browser, with the IdP."""

    email: Annotated[str, Field(max_length=254)]
    method: Literal["password", "api_key"]
    password: Annotated[str | None, Field(max_length=1024)] = None
    api_key: Annotated[str | None, Field(max_length=256)] = None
    totp: Annotated[str | None, Field(max_length=16)] = None
    sms: Annotated[str | None, Field(max_length=16)] = None
    recovery_code: Annotated[str | None, Field(max_length=32)] = None


def text_sign_in_code(
    access: LedgerAccess, email: str, request: Request, later: BackgroundTasks
) -> None:
    """Ask for a sign-in code to be texted to `email`'s phone, and deliver it once the request
    is answered (commands.sms). Raises TooManyTexts, or ValidationError for a bad address."""
    origin = access.sign_in_origin(request)
    command = sms.RequestSmsSignInCode(
        email=email, ip=origin["ip"], user_agent=origin["user_agent"]
    )
    text = sms.request_sms_sign_in_code(access.services(), command)
    if text is not None:  # in the thread that delivers: a store belongs to one thread
        later.add_task(lambda: sms.deliver(access.services(), text))


def api_router(access_: LedgerAccess) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["security"])

    Me = Annotated[Visitor, Depends(access_.api_visitor)]
    # What a session restricted by the organisation's MFA requirement may still do.
    Enrolling = Annotated[Visitor, Depends(access_.api_enroller)]

    def run(command: Any, model: Any, me: Visitor, **fields: Any) -> Any:
        return command(access_.services(), model(email=me.email, **me.actor(), **fields))

    def store() -> Any:
        return access_.services().store

    @router.post("/login")
    def sign_in(body: SignInRequest, request: Request) -> dict[str, Any]:
        """Sign in (recorded, success or not); the session token is shown once."""
        command = login.Login(**body.model_dump(), **access_.sign_in_origin(request))
        with sign_in_counted(command.method):
            return login.signed_in(login.log_in(access_.services(), command))

    @router.post("/login/sms-code", status_code=202)
    def sms_sign_in_code(
        body: SmsCodeRequest, request: Request, later: BackgroundTasks
    ) -> dict[str, Any]:
        """Text a sign-in code to the address's phone, if its account has one; then sign in
        with `"sms"` beside the password. The same answer whether or not the address has an
        account or a phone; throttled per address and per source (429 with Retry-After)."""
        text_sign_in_code(access_, body.email, request, later)
        return SMS_CODE_ASKED

    @router.get("/mfa")
    async def mfa_status(request: Request) -> dict[str, Any]:
        """The signed-in account's MFA state. The Security tab asks on every visit: the
        session is checked and the question answered in one trip to the thread pool, not one
        for the check and another for the answer."""
        return await run_in_threadpool(mfa_status_now, request)

    def mfa_status_now(request: Request) -> dict[str, Any]:
        me = access_.api_enroller(request)
        # The session's own account: no need to look the address up again.
        status = queries.mfa_status_of(store(), me.account_id)
        if status is None:
            raise AccountNotFound(me.email)
        return status

    @router.post("/mfa/totp/enrol")
    def totp_enrol(me: Enrolling) -> dict[str, str]:
        enrolment = run(totp.enrol_totp, totp.EnrolTotp, me)
        uri = enrolment.otpauth_uri
        return {"secret": enrolment.secret, "otpauth_uri": uri, "qr_svg": qr_svg(uri)}

    @router.post("/mfa/totp/confirm")
    def totp_confirm(body: Code, me: Enrolling) -> dict[str, Any]:
        codes = run(totp.confirm_totp, totp.ConfirmTotp, me, code=body.code)
        return {"ok": True, "recovery_codes": codes}

    @router.post("/mfa/totp/verify")
    def totp_verify(body: Code, me: Enrolling) -> dict[str, bool]:
        run(totp.verify_totp, totp.VerifyTotp, me, code=body.code)
        return {"ok": True}

    @router.post("/mfa/sms/enrol")
    def sms_enrol(body: Phone, me: Enrolling) -> dict[str, bool]:
        run(sms.enrol_sms, sms.EnrolSms, me, phone=body.phone)
        return {"ok": True, "sent": True}

    @router.post("/mfa/sms/confirm")
    def sms_confirm(body: Code, me: Enrolling) -> dict[str, Any]:
        codes = run(sms.confirm_sms, sms.ConfirmSms, me, code=body.code)
        return {"ok": True, "recovery_codes": codes}

    @router.post("/mfa/disable")
    def disable(body: FactorChoice, me: Me) -> dict[str, Any]:
        run(
            factors.disable_factor,
            factors.DisableFactor,
            me,
            factor=body.factor,
        )
        return {"ok": True, "disabled": body.factor}

    @router.post("/mfa/recovery-codes/regenerate")
    def regenerate(me: Me) -> dict[str, Any]:
        codes = run(
            recovery_codes.regenerate_recovery_codes,
            recovery_codes.RegenerateRecoveryCodes,
            me,
        )
        return {"recovery_codes": codes}

    @router.get("/sessions")
    def list_sessions(
        me: Me,
        limit: Annotated[int, Query(ge=1, le=1000)] = DEFAULT_PAGE,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[dict[str, Any]]:
        """Most recent activity first; for the next page, pass the last row's `cursor`."""
        if cursor is not None:
            query_value("cursor", read_cursor, cursor)
        found = queries.account_sessions(store(), me.email, access_.clock.now(), limit, cursor)
        return [{**s, "current": s["session_id"] == me.session_id} for s in found.sessions]

    @router.post("/sessions/{session_id}/revoke")
    def revoke(
        session_id: Annotated[str, UrlPath(max_length=64)], me: Enrolling
    ) -> dict[str, bool]:
        run(sessions.revoke_session, sessions.RevokeSession, me, session_id=session_id)
        return {"ok": True}

    @router.post("/sessions/revoke-others")
    def revoke_others(me: Me) -> dict[str, int]:
        signed_out = run(
            sessions.revoke_other_sessions, sessions.RevokeOtherSessions, me, keep=me.session_id
        )
        return {"revoked": queries.sessions_ended(store(), signed_out.position)}

    @router.get("/history")
    def history(me: Me, days: Annotated[int, Query(ge=1, le=90)] = 90) -> list[dict[str, Any]]:
        return queries.account_login_history(store(), me.email, access_.clock.now(), days)

    @router.get("/audit")
    def audit(me: Me) -> list[dict[str, Any]]:
        return queries.account_audit_log(store(), me.email)

    @router.get("/alerts")
    def alerts(me: Me) -> list[dict[str, Any]]:
        return queries.account_alerts(store(), me.email)

    @router.get("/api-keys")
    def list_keys(me: Me) -> list[dict[str, Any]]:
        return queries.account_api_keys(store(), me.email)

    @router.post("/api-keys")
    def create_key(body: KeyName, me: Me) -> dict[str, str]:
        issued = run(api_keys.create_api_key, api_keys.CreateApiKey, me, name=body.name)
        return {"key_id": issued.public_id, "key": issued.secret}

    @router.post("/api-keys/{key_id}/reauthorise")
    def reauthorise_key(key_id: Annotated[str, UrlPath(max_length=64)], me: Me) -> dict[str, bool]:
        """After the organisation began enforcing SSO: from a session opened with SSO."""
        run(api_keys.reauthorise_api_key, api_keys.ReauthoriseApiKey, me, key_id=key_id)
        return {"ok": True}

    @router.post("/api-keys/{key_id}/revoke")
    def revoke_key(key_id: Annotated[str, UrlPath(max_length=64)], me: Me) -> dict[str, bool]:
        run(api_keys.revoke_api_key, api_keys.RevokeApiKey, me, key_id=key_id)
        return {"ok": True}

    @router.get("/timeline")
    def timeline(
        me: Me,
        email: Annotated[Email, Query(max_length=254)],
        day: Annotated[tuple[datetime, datetime], Depends(day_asked)],
    ) -> list[dict[str, Any]]:
        access.require_admin_over(access_.services(), me.email, email)
        return Forensics(store()).timeline(email, *day)

    @router.get("/state")
    def state(
        me: Me,
        email: Annotated[Email, Query(max_length=254)],
        instant: Annotated[datetime, Depends(instant_asked)],
    ) -> dict[str, Any]:
        access.require_admin_over(access_.services(), me.email, email)
        return Forensics(store()).state(email, instant)

    @router.get("/org/{slug}/compliance")
    def compliance(
        me: Me,
        slug: Annotated[str, UrlPath(max_length=64)],
        as_of: Annotated[str | None, Query(max_length=40)] = None,
    ) -> list[dict[str, Any]]:
        """Every member and where they stand against the MFA requirement (admins only), now
        or at `as_of`."""
        access.require_admin_of(access_.services(), me.email, slug)
        at = query_value("as_of", parse_instant, as_of) if as_of else access_.clock.now()
        return compliance_report(store(), slug, at).members

    @router.get("/export")
    def export(me: Me, format: Literal["jsonl", "csv", "ocsf"] = "jsonl") -> dict[str, Any]:
        """The signed compliance export of the account's own events, with its manifest."""
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"security-events.{format}"
            Exporter(store()).export(Scope("user", me.email), None, None, format, out)
            manifest = out.with_name(out.name + ".manifest.json").read_text()
            return {"file": out.read_text(), "manifest": manifest}

    return router
