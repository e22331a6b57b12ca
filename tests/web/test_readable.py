"""The audit log's details as the Security tab shows them: words, not Python or JSON."""

from __future__ import annotations

from typing import Any

import pytest

from web.readable import audit_details

A = "4cbc21ab77e0f1d2c3b4a5968778695a"
B = "9e01d2f3aa11bb22cc33dd44ee55ff66"


@pytest.mark.parametrize(
    ("details", "shown"),
    [
        ({}, ""),
        (None, ""),
        ({"factor": "totp"}, "factor: authenticator app"),
        ({"factor": "sms", "phone": "+1•••••0123"}, "factor: SMS; phone: +1•••••0123"),
        ({"session": A}, "session: 4cbc21ab…"),
        ({"sessions": [A, B], "count": 2, "kept": "77aa01bc99"}, None),
        ({"sessions": [A]}, "1 session ended (4cbc21ab…)"),
        ({"sessions": [], "count": 0, "kept": A}, "kept: 4cbc21ab…; 0 sessions ended"),
        ({"key_id": "638cde0d42d1", "sessions_ended": 1, "sessions": [A]}, None),
        ({"count": 10}, "codes: 10"),
        ({"factor": "recovery_code", "reason": "invalid_recovery_code"}, None),
        ({"action": "disable_factor", "session": A}, "action: disable factor; session: 4cbc21ab…"),
        ({"deadline": "2026-11-21T09:00:00.000Z"}, "deadline: 2026-11-21 09:00 UTC"),
        ({"security": "off"}, "security alerts: off"),
        ({"sessions": "every session not opened with SSO ended"}, None),
    ],
)
def test_details_read_as_words(details: dict[str, Any] | None, shown: str | None) -> None:
    text = audit_details(details)
    if shown is not None:
        assert text == shown
    for python in ("[", "]", "{", "}", "'", "None", "True", "False", "_"):
        assert python not in text, text
    assert A not in text and B not in text  # ids are shortened


def test_a_sign_out_of_the_others_lists_the_sessions_it_ended_and_the_one_kept() -> None:
    shown = audit_details({"sessions": [A, B], "count": 2, "kept": "77aa01bc99"})
    assert shown == "kept: 77aa01bc…; 2 sessions ended (4cbc21ab…, 9e01d2f3…)"
