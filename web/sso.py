"""Sign in with SSO: the OpenID Connect Authorization Code flow, with PKCE, state and nonce.

`GET /signin/sso?org=SLUG` sends the browser to the organisation's provider with a fresh
`state`, `nonce` and PKCE challenge (S256), all three also kept in a short-lived cookie bound
to this browser. `GET /signin/sso/callback` accepts only the `state` that cookie holds,
exchanges the code with the verifier, and hands the ID token to the sign-in command, which
verifies it (signature, issuer, audience, times, the nonce) and records the attempt.

When the organisation also wants a Flero second factor, the token waits in that cookie while
the page asks for the code (`POST /signin/sso/factor`); it is spent by the first success.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from commands import sso_sign_in
from commands.inputs import Slug
from ledger.errors import LedgerError, LoginDenied
from web.ledger_access import LedgerAccess, same_token, start_session
from web.login_csrf import require_login_csrf
from web.metrics import sign_in_counted

FLOW_COOKIE = "flero_sso_flow"
FLOW_PATH = "/signin/sso"
FLOW_LIFETIME = 600  # seconds the browser has to come back from the provider
CALLBACK_PATH = "/signin/sso/callback"
NOT_SET_UP = "Single sign-on is not set up for that organisation."
DID_NOT_WORK = "Single sign-on did not work: start again."
# Refusals a Flero code can still turn into a success, with the same ID token.
ASK_FOR_A_FACTOR = {"mfa_required", "invalid_mfa_code", "mfa_code_reused", "invalid_recovery_code"}
FLOW_KEYS = {"state", "nonce", "verifier", "org"}

# show(request, status, problem=..., **more): the sign-in page (web.pages owns the template).
SigninPage = Callable[..., Response]


def sso_router(access: LedgerAccess, show: SigninPage) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(FLOW_PATH)
    def start(
        request: Request,
        org: Annotated[Slug | None, Query(max_length=64)] = None,
        email: Annotated[str | None, Query(max_length=254)] = None,
    ) -> Response:
        """By organisation (`org`), or by the organisation that claimed the domain of the
        visitor's address (`email`); anything unknown answers alike."""
        services = access.services()
        found = sso_sign_in.organisation_signing_in(services, org, email)
        provider = found.provider_settings(services.store.keyring) if found else None
        if found is None or provider is None:
            return show(request, 404, problem=NOT_SET_UP)
        try:
            endpoint = services.providers().authorization_endpoint(provider)
        except LedgerError as down:
            return show(request, 503, problem=down.message)
        flow = {
            "state": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(32),
            "verifier": secrets.token_urlsafe(48),
            "org": found.slug,
        }
        query = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": callback_url(request),
            "scope": "openid email",
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": pkce_challenge(flow["verifier"]),
            "code_challenge_method": "S256",
        }
        answer = RedirectResponse(f"{endpoint}?{urlencode(query)}", status_code=303)
        return keep_flow(request, answer, flow)

    @router.get(CALLBACK_PATH)
    def callback(
        request: Request,
        code: Annotated[str, Query(max_length=2048)] = "",
        state: Annotated[str, Query(max_length=256)] = "",
    ) -> Response:
        flow = decode_flow(request.cookies.get(FLOW_COOKIE, ""))
        if flow is None or "id_token" in flow or not code or not same_token(state, flow["state"]):
            return forget_flow(show(request, 400, problem=DID_NOT_WORK))
        services = access.services()
        org = sso_sign_in.organisation_signing_in(services, flow["org"])
        provider = org.provider_settings(services.store.keyring) if org else None
        if provider is None:
            return forget_flow(show(request, 404, problem=NOT_SET_UP))
        try:
            id_token = services.providers().exchange_code(
                provider, code, callback_url(request), flow["verifier"]
            )
        except LedgerError as down:
            return forget_flow(show(request, 503, problem=down.message))
        return sign_in(request, flow | {"id_token": id_token})

    @router.post(f"{FLOW_PATH}/factor", dependencies=[Depends(require_login_csrf)])
    def second_factor(
        request: Request,
        totp: Annotated[str, Form(max_length=16)] = "",
        recovery_code: Annotated[str, Form(max_length=32)] = "",
    ) -> Response:
        flow = decode_flow(request.cookies.get(FLOW_COOKIE, ""))
        if flow is None or "id_token" not in flow:
            return forget_flow(show(request, 400, problem=DID_NOT_WORK))
        factor = {"totp": totp.strip() or None, "recovery_code": recovery_code.strip() or None}
        return sign_in(request, flow, **factor)

    def sign_in(request: Request, flow: dict[str, str], **factor: str | None) -> Response:
        """Sign in with the flow's ID token; ask for a Flero code while one can still help."""
        try:
            with sign_in_counted("sso"):
                opened = sso_sign_in.sign_in_with_id_token(
                    access.services(),
                    flow["id_token"],
                    flow["nonce"],
                    **access.sign_in_origin(request),
                    **factor,
                )
        except LoginDenied as denied:
            if denied.reason in ASK_FOR_A_FACTOR:
                page = show(request, 401, problem=denied.message, sso_factor=True)
                return keep_flow(request, page, flow)
            return forget_flow(show(request, 401, problem=denied.message))
        except LedgerError as refused:
            return forget_flow(show(request, 400, problem=refused.message))
        return forget_flow(start_session(request, opened.token))

    return router


def callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def keep_flow(request: Request, answer: Response, flow: dict[str, str]) -> Response:
    """The flow rides in an HttpOnly cookie of this browser, for this path, for ten minutes.
    SameSite=Lax: it must come back with the provider's top-level redirect."""
    answer.set_cookie(
        FLOW_COOKIE,
        base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
        max_age=FLOW_LIFETIME,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=FLOW_PATH,
    )
    return answer


def decode_flow(cookie: str) -> dict[str, str] | None:
    """The flow this browser started, or None (no cookie, or not one of ours)."""
    try:
        flow: Any = json.loads(base64.urlsafe_b64decode(cookie.encode()))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(flow, dict) or not FLOW_KEYS <= set(flow) <= FLOW_KEYS | {"id_token"}:
        return None
    if not all(isinstance(value, str) for value in flow.values()):
        return None
    return flow


def forget_flow(answer: Response) -> Response:
    """A flow ends once, whatever came of it."""
    answer.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return answer
