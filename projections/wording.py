"""How the ledger's records read to people: instants to the second, details and policies in
words. JSON keeps every field as recorded; these are only for text a person reads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ledger.clock import as_utc

# Plumbing a person reading a record has no use for (the JSON keeps it): internal ids and
# versions, hashes and keyed digests, replay counters.
PLUMBING = {
    "account_id",
    "account_version",
    "country_code",
    "idle_limit",
    "jti",
    "peer_ip",
    "sso_subject",
    "sso_token_key",
    "step",
    "token_sha256",
    "totp_step",
}

SSO_MFA_MODES = {
    "idp": "the IdP's MFA is enough",
    "flero": "a Flero factor is required",
    "both": "the IdP's MFA and a Flero factor are required",
}


def when(instant: str | None) -> str:
    """`2026-11-14T09:00:00.123456Z` as `2026-11-14 09:00:00` (UTC, to the second); text that
    is not an instant is returned as it is, and nothing as an empty string."""
    if not instant:
        return ""
    try:
        parsed = datetime.fromisoformat(instant)
    except ValueError:
        return instant
    if parsed.tzinfo is None:
        return instant
    return as_utc(parsed).strftime("%Y-%m-%d %H:%M:%S")


def details_text(details: Mapping[str, Any]) -> str:
    """`factor: sms; phone: +44•••••3456`: each field named in words, empty ones and plumbing
    left out, lists joined, yes/no for flags, a client as its device and address."""
    return "; ".join(
        f"{key.replace('_', ' ')}: {value_text(key, value)}"
        for key, value in details.items()
        if shown(key, value)
    )


def value_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return when(value) if looks_like_instant(value) else value
    if isinstance(value, list | tuple):
        return ", ".join(value_text(key, item) for item in value)
    if isinstance(value, Mapping):
        return client_text(value) if key == "client" else nested_text(value)
    return str(value)


def nested_text(value: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{name.replace('_', ' ')} {value_text(name, item)}"
        for name, item in value.items()
        if shown(name, item)
    )


def shown(key: str, value: Any) -> bool:
    return key not in PLUMBING and value is not None and value != [] and value != {}


def client_text(client: Mapping[str, Any]) -> str:
    """`Firefox 127 on Linux (Computer), 89.160.20.112 (Tumba, Sweden)`."""
    known = [client.get(k) for k in ("browser", "os")]
    device = " on ".join(str(part) for part in known if part not in (None, "Unknown"))
    if client.get("device") not in (None, "Unknown"):
        device += f" ({client['device']})"
    where = str(client.get("ip") or "")
    if client.get("location"):
        where += f" ({client['location']})"
    return ", ".join(part for part in (device.strip(), where) if part) or "unknown"


def looks_like_instant(text: str) -> bool:
    return len(text) >= 20 and text[4] == "-" and text[10] == "T" and text.endswith("Z")


def org_policy_text(org: Mapping[str, Any]) -> str:
    """`MFA required; SSO through okta (the IdP's MFA is enough), enforced`."""
    mfa = "MFA required" if org.get("requires_mfa") else "MFA not required"
    sso = org.get("sso")
    if not sso:
        return f"{mfa}; no SSO"
    mode = SSO_MFA_MODES.get(str(sso.get("mfa_mode")), str(sso.get("mfa_mode")))
    enforced = "password sign-ins refused" if sso.get("enforced") else "passwords still allowed"
    return f"{mfa}; SSO through {sso.get('idp')} ({mode}; {enforced})"
