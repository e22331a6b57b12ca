"""The audit log's details in words, for the Security tab: what a person reads, not the JSON the
API and the exports carry (`{"sessions": ["4cbc…", …], "count": 2, "kept": "…"}` becomes
"2 sessions ended (4cbc21ab…, 9e01d2f3…), kept this one: 77aa01bc…")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SHORT_ID = 8  # characters of a session id: enough to tell one from another on the page
FACTORS = {"totp": "authenticator app", "sms": "SMS", "recovery_code": "recovery code"}
LABELS = {  # a detail's name on the page; a name not here is shown with spaces for "_"
    "factor": "factor",
    "session": "session",
    "kept": "kept",
    "key_id": "key",
    "sessions_ended": "sessions ended",
    "security": "security alerts",
    "count": "codes",  # recovery codes generated (a sign-out's count is said with its list)
}


def short_id(session_id: object) -> str:
    text = str(session_id)
    return text if len(text) <= SHORT_ID else text[:SHORT_ID] + "…"


def words(code: object) -> str:
    """A code (`invalid_mfa_code`, `disable_factor`) as words."""
    return str(code).replace("_", " ")


def value(name: str, shown: Any) -> str:
    if shown is None:
        return "—"
    if isinstance(shown, bool):
        return "yes" if shown else "no"
    if isinstance(shown, list | tuple):
        return ", ".join(value(name, item) for item in shown) or "none"
    if isinstance(shown, dict):
        return "; ".join(f"{words(k)} {value(str(k), v)}" for k, v in shown.items())
    return FORMATS.get(name, str)(shown)


FORMATS: dict[str, Callable[[Any], str]] = {
    "factor": lambda factor: FACTORS.get(str(factor), words(factor)),
    "session": short_id,
    "sessions": short_id,
    "kept": short_id,
    "reason": words,
    "action": words,
    "change": words,
    "deadline": lambda instant: str(instant)[:16].replace("T", " ") + " UTC",
}


def audit_details(details: dict[str, Any] | None) -> str:
    """One entry's details as a line of text."""
    details = dict(details or {})
    parts = []
    ended = details.pop("sessions", None)
    if isinstance(ended, list):
        details.pop("sessions_ended", None)  # the list says it
        many = details.pop("count", len(ended))
        listed = f" ({value('sessions', ended)})" if ended else ""
        parts.append(f"{many} session{'' if many == 1 else 's'} ended{listed}")
    elif ended is not None:  # a sentence (SSO enforced)
        parts.append(f"sessions: {ended}")
    parts[:0] = [f"{LABELS.get(k, words(k))}: {value(k, v)}" for k, v in details.items()]
    return "; ".join(parts)
