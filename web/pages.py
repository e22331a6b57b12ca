"""The Security tab as server-rendered HTML: sign in, then see and change your security.

Every form carries the session's CSRF token (the sign-in form, before any session, a pre-session
one: web/login_csrf.py); every change goes through the same commands as the command line, and
every view through the same read-model queries. After a change the browser is redirected back
(post/redirect/get), except where something is shown only once (a new TOTP secret, recovery
codes), which is rendered in the answer to the POST itself.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi import Path as UrlPath
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from commands import access as access_rules
from commands import factors, login, recovery_codes, sessions, sms, totp
from ledger.clock import parse_instant
from ledger.errors import (
    AdminRequired,
    FreshFactorRequired,
    LedgerError,
    LoginDenied,
    TooManyTexts,
    VerificationDenied,
)
from ledger.sign_in import THROTTLED
from projections import queries
from projections.compliance import compliance_report, member_compliance
from projections.sessions import BadCursor, read_cursor
from web.answers import input_problem, login_status, retry_after
from web.api import qr_svg, text_sign_in_code
from web.ledger_access import (
    SESSION_COOKIE,
    ForgedForm,
    LedgerAccess,
    Visitor,
    same_token,
    start_session,
)
from web.login_csrf import require_login_csrf, with_login_csrf
from web.metrics import sign_in_counted
from web.readable import audit_details
from web.sso import sso_router

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
TEMPLATES.env.filters["day"] = lambda stamp: (stamp or "")[:10]
TEMPLATES.env.filters["when"] = lambda stamp: (stamp or "")[:16].replace("T", " ")
TEMPLATES.env.filters["details"] = audit_details
TEMPLATES.env.filters["sentence"] = lambda text: text[:1].upper() + text[1:]
FIELD = Annotated[str, Form(max_length=256)]
ACTIONS = {  # what a "confirm it is you" form goes on to do
    "disable:totp": "disable the authenticator app",
    "disable:sms": "disable SMS",
    "regenerate": "regenerate your recovery codes",
    "enrol_totp": "add an authenticator app",
    "enrol_sms": "add a phone number",
}
ENROLMENTS = {"enrol_totp", "enrol_sms"}  # what a restricted session may still confirm
SIGN_IN_REASONS = {
    "mfa_required": (
        "Enter a code from your authenticator app, a code we text you (Text me a code) "
        "or a recovery code."
    ),
    "sms_code_expired": "That code has expired: ask for a new one (Text me a code).",
    "locked_out": "Too many failed attempts: sign-in is locked for a while.",
    THROTTLED: "Too many attempts: wait a little, then try again.",
}
TOO_MANY_TEXTS = "Too many codes asked for: wait a little, then ask again."
DONE = {  # what `/security?done=KEY` shows: the page's own words, never text from the URL
    "totp_disabled": "Authenticator app disabled",
    "sms_disabled": "SMS disabled",
    "session_signed_out": "Session signed out",
    "others_signed_out": "Other sessions signed out",
}


def pages_router(access: LedgerAccess) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def signed_in(request: Request, csrf: str | None = None, enrolling: bool = False) -> Visitor:
        """`enrolling`: what is asked is something a session restricted by the organisation's
        MFA requirement may still do (see the page); anything else is refused for it."""
        me = access.page_visitor(request, enrolling)
        if csrf is not None and not same_token(csrf, me.csrf_token):
            raise ForgedForm
        return me

    def page(request: Request, me: Visitor, status: int = 200, **shown: Any) -> Response:
        store = access.services().store
        now = access.clock.now()
        obligation = member_compliance(store, me.email, now)
        context = {
            "email": me.email,
            "csrf": me.csrf_token,
            "session_id": me.session_id,
            "obligation": obligation,
            # As the session was found, unless what was just done (enrolling) lifted it.
            "restricted": me.restricted if obligation["status"] == "overdue" else None,
            "organisation_wants_totp": obligation["methods"] == "totp",
            "runs_org": access_rules.organisation_run_by(access.services(), me.email),
            "mfa": queries.account_mfa_status(store, me.email),
            "sessions": queries.account_sessions(
                store, me.email, now, cursor=sessions_after(request)
            ),
            "later_sessions": sessions_after(request) is not None,
            "history": queries.account_login_history(store, me.email, now, 90),
            "audit": queries.account_audit_log(store, me.email),
            "message": DONE.get(request.query_params.get("done", "")),
            **shown,
        }
        return TEMPLATES.TemplateResponse(request, "security.html", context, status_code=status)

    def sessions_after(request: Request) -> str | None:
        """ "Show more": the page of sessions after this cursor (a stale or mangled link shows
        the most recent ones)."""
        cursor = request.query_params.get("sessions_after")
        if cursor is None:
            return None
        try:
            read_cursor(cursor)
        except BadCursor:
            return None
        return cursor

    def back(done: str) -> Response:
        return RedirectResponse(f"/security?done={done}", status_code=303)

    def signin_page(request: Request, status: int = 200, **shown: Any) -> Response:
        """The sign-in form, with a fresh login CSRF token (web/login_csrf.py)."""

        def render(token: str) -> Response:
            context = {"given_email": "", "login_csrf": token, **shown}
            return TEMPLATES.TemplateResponse(request, "signin.html", context, status_code=status)

        return with_login_csrf(request, render)

    router.include_router(sso_router(access, signin_page))

    def attempt(
        request: Request,
        me: Visitor,
        change: Callable[[], Response],
        reauth: dict[str, str] | None = None,
    ) -> Response:
        """Run a change; a refusal is shown on the page, with what the user can do next
        (`reauth`: the "confirm it is you" form, when a fresh second factor is wanted)."""
        try:
            return change()
        except FreshFactorRequired:
            return page(request, me, 403, reauth=reauth)
        except (LedgerError, ValidationError) as refused:
            return page(request, me, 400, problem=problem_text(refused))

    def actor(me: Visitor) -> dict[str, Any]:
        return {"email": me.email, **me.actor()}

    @router.get("/")
    def home() -> Response:
        return RedirectResponse("/security", status_code=303)

    @router.get("/signin")
    def signin_form(request: Request) -> Response:
        return signin_page(request)

    @router.post("/signin", dependencies=[Depends(require_login_csrf)])
    def signin(
        request: Request,
        email: FIELD,
        password: FIELD,
        totp_code: Annotated[str, Form(alias="totp", max_length=16)] = "",
        sms_code: Annotated[str, Form(alias="sms", max_length=16)] = "",
        recovery_code: Annotated[str, Form(max_length=32)] = "",
    ) -> Response:
        fields: dict[str, str | None] = {"email": email, "method": "password"}
        fields |= {"password": password, "totp": totp_code.strip() or None}
        fields |= {"sms": sms_code.strip() or None}
        fields |= {"recovery_code": recovery_code.strip() or None}
        # Someone signing in with a texted code keeps the field for it.
        shown = {"given_email": email, "sms_asked": bool(sms_code.strip())}
        try:
            command = login.Login(**fields, **access.sign_in_origin(request))
            with sign_in_counted(command.method):
                opened = login.log_in(access.services(), command)
        except LoginDenied as denied:
            status = login_status(denied)
            answer = signin_page(request, status, problem=problem_text(denied), **shown)
            answer.headers.update(retry_after(denied))
            return answer
        except ValidationError as invalid:
            return signin_page(request, 401, problem=problem_text(invalid), **shown)
        return start_session(request, opened.token)

    @router.post("/signin/sms-code", dependencies=[Depends(require_login_csrf)])
    def text_me_a_code(
        request: Request, later: BackgroundTasks, email: Annotated[str, Form(max_length=256)] = ""
    ) -> Response:
        """ "Text me a code": the same page whoever holds the address, now with the field for
        the code (the password typed, if any, is not kept: it is typed again with the code)."""
        try:
            text_sign_in_code(access, email, request, later)
        except TooManyTexts as refused:
            answer = signin_page(
                request, 429, given_email=email, sms_asked=True, problem=TOO_MANY_TEXTS
            )
            answer.headers.update(retry_after(refused))
            return answer
        except ValidationError as invalid:
            return signin_page(request, 422, given_email=email, problem=problem_text(invalid))
        return signin_page(request, given_email=email, sms_asked=True, texted=True)

    @router.post("/signout")
    def signout(request: Request, csrf: FIELD) -> Response:
        me = signed_in(request, csrf, enrolling=True)
        sessions.revoke_session(
            access.services(), sessions.RevokeSession(**actor(me), session_id=me.session_id)
        )
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @router.get("/security")
    def security(request: Request) -> Response:
        return page(request, signed_in(request, enrolling=True))

    @router.post("/security/totp/enrol")
    def totp_enrol(request: Request, csrf: FIELD) -> Response:
        me = signed_in(request, csrf, enrolling=True)

        reauth = {"then": "enrol_totp", "label": ACTIONS["enrol_totp"]}
        return attempt(request, me, lambda: enrol_totp(request, me), reauth=reauth)

    @router.post("/security/totp/confirm")
    def totp_confirm(request: Request, csrf: FIELD, code: FIELD) -> Response:
        me = signed_in(request, csrf, enrolling=True)

        def confirm() -> Response:
            try:
                command = totp.ConfirmTotp(**actor(me), code=code)
                codes = totp.confirm_totp(access.services(), command)
            except (VerificationDenied, ValidationError) as wrong:
                # A typo: the same key and QR code again (the app has scanned them), and why
                # beside the field. Starting over would draw a new key the app does not have.
                pending = totp.pending_totp_enrolment(access.services(), me.email)
                if pending is None:
                    raise
                shown = enrolment_shown(pending) | {"problem": problem_text(wrong)}
                return page(request, me, 400, enrolment=shown)
            return page(request, me, codes=codes, message="Authenticator app enabled")

        return attempt(request, me, confirm)

    @router.post("/security/sms/enrol")
    def sms_enrol(request: Request, csrf: FIELD, phone: FIELD) -> Response:
        me = signed_in(request, csrf, enrolling=True)

        def enrol() -> Response:
            sms.enrol_sms(access.services(), sms.EnrolSms(**actor(me), phone=phone))
            return page(request, me, sms_pending=True, message="We texted you a code")

        reauth = {"then": "enrol_sms", "label": ACTIONS["enrol_sms"]}
        return attempt(request, me, enrol, reauth=reauth)

    @router.post("/security/sms/confirm")
    def sms_confirm(request: Request, csrf: FIELD, code: FIELD) -> Response:
        me = signed_in(request, csrf, enrolling=True)

        def confirm() -> Response:
            codes = sms.confirm_sms(access.services(), sms.ConfirmSms(**actor(me), code=code))
            return page(request, me, codes=codes, message="SMS enabled")

        return attempt(request, me, confirm)

    def disable_factor(me: Visitor, factor: str) -> Response:
        command = factors.DisableFactor(**actor(me), factor=factor)
        factors.disable_factor(access.services(), command)
        return back(f"{factor}_disabled")  # the command accepted it: "totp" or "sms"

    def regenerate(request: Request, me: Visitor) -> Response:
        command = recovery_codes.RegenerateRecoveryCodes(**actor(me))
        codes = recovery_codes.regenerate_recovery_codes(access.services(), command)
        return page(request, me, codes=codes, message="New recovery codes: the old ones are void")

    def enrol_totp(request: Request, me: Visitor) -> Response:
        # An enrolment already started shows its key again: an app may have scanned it.
        command = totp.EnrolTotp(**actor(me), keep_pending=True)
        enrolment = totp.enrol_totp(access.services(), command)
        return page(request, me, enrolment=enrolment_shown(enrolment))

    def carry_out(request: Request, me: Visitor, then: str) -> Response:
        if then == "regenerate":
            return regenerate(request, me)
        if then == "enrol_totp":
            return enrol_totp(request, me)
        if then == "enrol_sms":  # the number was not kept: the form asks for it again
            return page(request, me, message="Confirmed: now enter the number to add")
        return disable_factor(me, then.removeprefix("disable:"))

    @router.post("/security/disable")
    def disable(
        request: Request,
        csrf: FIELD,
        factor: FIELD,
        confirmed: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """First the question ("Disable the authenticator app?"), then, with `confirmed=yes`
        from its form, the change: without it nothing is disabled, script or not."""
        me = signed_in(request, csrf)
        then = f"disable:{factor}"
        if then not in ACTIONS:
            return page(request, me, 400, problem="Unknown factor")
        if confirmed != "yes":
            return page(request, me, disabling={"factor": factor, "label": ACTIONS[then]})
        reauth = {"then": then, "label": ACTIONS[then]}
        return attempt(request, me, lambda: disable_factor(me, factor), reauth=reauth)

    @router.post("/security/recovery-codes/regenerate")
    def regenerate_codes(request: Request, csrf: FIELD) -> Response:
        me = signed_in(request, csrf)
        reauth = {"then": "regenerate", "label": ACTIONS["regenerate"]}
        return attempt(request, me, lambda: regenerate(request, me), reauth=reauth)

    @router.post("/security/confirm")
    def confirm_identity(request: Request, csrf: FIELD, code: FIELD, then: FIELD) -> Response:
        """Prove a second factor, then do what was asked (within the next ten minutes)."""
        me = signed_in(request, csrf, enrolling=then in ENROLMENTS)
        if then not in ACTIONS:
            return page(request, me, 400, problem="Unknown action")

        def prove_then_act() -> Response:
            services = access.services()
            if queries.account_mfa_status(services.store, me.email)["totp"]["enabled"]:
                totp.verify_totp(services, totp.VerifyTotp(**actor(me), code=code))
            else:
                recovery_codes.use_recovery_code(
                    services, recovery_codes.UseRecoveryCode(**actor(me), code=code)
                )
            return carry_out(request, me, then)

        reauth = {"then": then, "label": ACTIONS[then]}
        return attempt(request, me, prove_then_act, reauth=reauth)

    @router.post("/security/sessions/{session_id}/revoke")
    def revoke(
        request: Request, csrf: FIELD, session_id: Annotated[str, UrlPath(max_length=64)]
    ) -> Response:
        me = signed_in(request, csrf)

        def sign_out() -> Response:
            command = sessions.RevokeSession(**actor(me), session_id=session_id)
            sessions.revoke_session(access.services(), command)
            return back("session_signed_out")

        return attempt(request, me, sign_out)

    @router.get("/org/{slug}/compliance")
    def compliance(request: Request, slug: Annotated[str, UrlPath(max_length=64)]) -> Response:
        """For the organisation's admins: who meets its MFA requirement, now or `?as_of=`."""
        me = signed_in(request)
        try:
            access_rules.require_admin_of(access.services(), me.email, slug)
            asked = request.query_params.get("as_of")
            at = parse_instant(asked[:40]) if asked else access.clock.now()
            report = compliance_report(access.services().store, slug, at)
        except AdminRequired as refused:
            return page(request, me, 403, problem=refused.message)
        except ValueError:
            return page(request, me, 400, problem="as_of: not an ISO 8601 instant")
        except LedgerError as refused:  # the organisation did not exist yet then
            return page(request, me, 400, problem=refused.message)
        context = {"email": me.email, "csrf": me.csrf_token, "report": report}
        return TEMPLATES.TemplateResponse(request, "compliance.html", context)

    @router.post("/security/sessions/revoke-others")
    def revoke_others(request: Request, csrf: FIELD) -> Response:
        me = signed_in(request, csrf)

        def sign_out_others() -> Response:
            command = sessions.RevokeOtherSessions(**actor(me), keep=me.session_id)
            sessions.revoke_other_sessions(access.services(), command)
            return back("others_signed_out")

        return attempt(request, me, sign_out_others)

    return router


def enrolment_shown(enrolment: totp.TotpEnrolment) -> dict[str, str]:
    """What the enrolment panel shows: the key to type, and the same as a QR code."""
    return {"secret": enrolment.secret, "qr_svg": qr_svg(enrolment.otpauth_uri)}


def problem_text(error: Exception) -> str:
    if isinstance(error, LoginDenied):
        return SIGN_IN_REASONS.get(error.reason, "That did not work: check and try again.")
    if isinstance(error, ValidationError):
        return input_problem(error.errors()[0], naming_the_field=False)
    return str(getattr(error, "message", error))
