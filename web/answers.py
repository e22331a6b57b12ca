"""What the web layer tells a visitor about bad input and refused sign-ins (API and page alike).

A problem with some input names the field and what is wrong, never the value given: a 422 must
not carry a password, a code or a phone number back to whoever can read the answer (a log, a
proxy, a shoulder). Pydantic's own messages never hold the input. The ledger's validators begin
theirs with it (`'+1' is not a valid phone number ...`, for the command line), so that opening
is replaced here; and a message that would still hold the value is replaced as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse

from ledger.errors import LoginDenied, TooManyTexts
from ledger.sign_in import THROTTLED

_QUOTED_VALUE = re.compile(r"""^(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")  # a str's repr
_SOURCES = {"body", "query", "path", "header", "cookie"}
_SHORTEST_ECHO = 4  # shorter text turns up in any sentence by chance, and betrays nothing


def error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


def input_problem(details: Mapping[str, Any], *, naming_the_field: bool = True) -> str:
    """One problem of a pydantic or FastAPI validation error: `phone: the value given is not a
    valid phone number ...`, with no trace of the value given."""
    message = str(details["msg"]).removeprefix("Value error, ")
    if details.get("type") == "value_error":
        message = _QUOTED_VALUE.sub("the value given", message, count=1)
    given = details.get("input")
    if isinstance(given, str) and len(given) >= _SHORTEST_ECHO and given in message:
        message = "the value given is not valid"
    where = field_name(details.get("loc", ())) if naming_the_field else ""
    return f"{where}: {message}" if where else message[:1].upper() + message[1:]


def field_name(location: Any) -> str:
    """`email` for ("body", "email"), `on` for ("query", "on"), `body` for the body itself."""
    parts = [str(part) for part in location if isinstance(part, str)]
    return ".".join(parts[1:] if len(parts) > 1 and parts[0] in _SOURCES else parts)


def login_status(refusal: LoginDenied) -> int:
    return 429 if refusal.reason == THROTTLED else 401


def retry_after(refusal: LoginDenied | TooManyTexts) -> dict[str, str]:
    """The Retry-After header, when the ledger knows when trying again can succeed."""
    return {} if refusal.retry_after is None else {"Retry-After": str(refusal.retry_after)}


def login_refused(refusal: LoginDenied) -> JSONResponse:
    """A refused sign-in, in the CLI's shape and the API's error shape at once."""
    body = {
        "outcome": "failed",
        "reason": refusal.reason,
        "error": {"code": refusal.reason, "message": refusal.message},
    }
    return JSONResponse(body, login_status(refusal), retry_after(refusal) or None)
