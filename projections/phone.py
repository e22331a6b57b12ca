"""How a phone number is shown once enrolled: country code and last four digits only."""

from __future__ import annotations

import phonenumbers

from projections.framework import ERASED


def mask_phone(e164: str | None) -> str | None:
    """`+15555554567` -> `+1•••••4567`."""
    if e164 is None or e164 == ERASED:
        return e164
    number = phonenumbers.parse(e164)
    national = str(number.national_number)
    return f"+{number.country_code}{'•' * 5}{national[-4:]}"
