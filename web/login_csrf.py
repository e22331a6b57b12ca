"""Login CSRF: a sign-in form counts only when it was posted from a page this server served.

Before sign-in there is no session to bind a CSRF token to, so the page that shows a sign-in
form hands the browser a fresh random token twice: in a cookie (HttpOnly, SameSite=Strict, sent
to /signin and the paths below it only) and in the form's hidden `login_csrf` field. A POST must
carry both, equal (compared in constant time). A page on another site can neither read the
cookie nor make the browser send it, so it cannot sign the visitor in to an account of the
attacker's choosing, whose history would then record what the visitor does. Browsers that send
fetch metadata must also say the form came from this very origin (`Sec-Fetch-Site:
same-origin`, or `none` for a reload the user asked for), which shuts out a sibling subdomain
able to plant cookies for ours.

    return with_login_csrf(request, lambda token: TEMPLATES.TemplateResponse(
        request, "form.html", {"login_csrf": token}))          # GET: the form
    @router.post("/signin/...", dependencies=[Depends(require_login_csrf)])   # POST
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from web.ledger_access import ForgedForm, same_token

LOGIN_CSRF_COOKIE = "flero_login_csrf"
LOGIN_CSRF_PATH = "/signin"  # the sign-in forms post under it: /signin, /signin/sso
OUR_OWN = {"same-origin", "none"}  # Sec-Fetch-Site values no other site can cause


def with_login_csrf(request: Request, render: Callable[[str], Response]) -> Response:
    """`render(token)`, the page holding the form, with the token's cookie set on it."""
    token = secrets.token_urlsafe(32)
    answer = render(token)
    answer.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=LOGIN_CSRF_PATH,
    )
    return answer


def require_login_csrf(
    request: Request, login_csrf: Annotated[str, Form(max_length=64)] = ""
) -> None:
    """A dependency of every sign-in POST: raises ForgedForm (403, before anything is done or
    recorded) unless the form's token is the cookie's and the browser does not say otherwise."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (login_csrf and cookie and same_token(login_csrf, cookie)):
        raise ForgedForm
    if request.headers.get("sec-fetch-site", "none") not in OUR_OWN:
        raise ForgedForm
