"""Reading the sealed `client` of a sign-in event (IP, location, browser) for display."""

from __future__ import annotations

import json
from typing import Any

from projections.framework import ERASED, Projection

UNKNOWN_CLIENT: dict[str, Any] = {
    "ip": None,
    "location": None,
    "country_code": None,
    "browser": None,
    "os": None,
    "device": None,
}


def client_of(projection: Projection, sealed: str) -> dict[str, Any]:
    opened = projection.unseal(sealed)
    if opened is None or opened == ERASED:
        return {**UNKNOWN_CLIENT, "ip": ERASED, "location": ERASED}
    return {**UNKNOWN_CLIENT, **json.loads(opened)}
