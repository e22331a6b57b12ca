"""The organisation's MFA policy when disabling factors, and recovery codes from end to end."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.cli.test_totp import code_at
from tests.conftest import Ledger

PHONE = "+14155550123"


def enable_totp(ledger: Ledger, email: str, *extra: str) -> list[str]:
    """Enrol and confirm the authenticator app; returns the recovery codes handed out."""
    secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
    confirmed = ledger.ok("mfa", "totp", "confirm", email, code_at(secret, ledger), *extra)
    return list(confirmed["recovery_codes"])


def enable_sms(ledger: Ledger, email: str) -> None:
    ledger.ok("mfa", "sms", "enrol", email, "--phone", PHONE)
    texted = ledger.ok("sms", "outbox")[0]["body"]
    [code] = re.findall(r"\b\d{6}\b", texted)
    ledger.ok("mfa", "sms", "confirm", email, code)


def enabled_factors(ledger: Ledger, email: str) -> list[str]:
    status = ledger.ok("mfa", "status", email)
    return [factor for factor in ("totp", "sms") if status[factor]["enabled"]]


# ---- disabling factors under the organisation's policy ----------------------------------------


@pytest.mark.parametrize("factor", ["totp", "sms"])
def test_without_an_org_policy_the_only_factor_can_be_disabled(
    ledger: Ledger, account: str, factor: str
) -> None:
    if factor == "totp":
        enable_totp(ledger, account)
    else:
        enable_sms(ledger, account)

    disabled = ledger.ok("mfa", "disable", account, factor)

    assert disabled == {"ok": True, "factor": factor, "enabled": False}
    assert enabled_factors(ledger, account) == []


def test_when_the_org_requires_mfa_the_last_factor_stays_on(ledger: Ledger, account: str) -> None:
    enable_totp(ledger, account)
    ledger.ok("org", "require-mfa", "acme", "on")
    assert ledger.ok("mfa", "status", account)["org_requires_mfa"] is True
    before = ledger.event_count()

    error = ledger.refused("mfa", "disable", account, "totp", code="mfa_required_by_org")

    assert "requires MFA" in error["error"]["message"]
    assert ledger.event_count() == before
    assert enabled_factors(ledger, account) == ["totp"]


def test_with_two_factors_one_may_go_then_the_other_is_kept(ledger: Ledger, account: str) -> None:
    enable_totp(ledger, account)
    enable_sms(ledger, account)
    ledger.ok("org", "require-mfa", "acme", "on")
    assert enabled_factors(ledger, account) == ["totp", "sms"]

    ledger.ok("mfa", "disable", account, "sms")
    assert enabled_factors(ledger, account) == ["totp"]

    before = ledger.event_count()
    ledger.refused("mfa", "disable", account, "totp", code="mfa_required_by_org")
    assert ledger.event_count() == before
    assert enabled_factors(ledger, account) == ["totp"]
    assert ledger.ok("mfa", "status", account)["recovery_codes"]["remaining"] == 10


def test_once_the_policy_is_lifted_the_last_factor_goes_and_recovery_codes_with_it(
    ledger: Ledger, account: str
) -> None:
    codes = enable_totp(ledger, account)
    ledger.ok("org", "require-mfa", "acme", "on")
    ledger.refused("mfa", "disable", account, "totp", code="mfa_required_by_org")

    ledger.ok("org", "require-mfa", "acme", "off")
    ledger.ok("mfa", "disable", account, "totp")

    status = ledger.ok("mfa", "status", account)
    assert enabled_factors(ledger, account) == []
    assert status["org_requires_mfa"] is False
    assert status["recovery_codes"] == {"remaining": 0, "generated_at": None}
    ledger.refused("mfa", "recovery-codes", "use", account, codes[0], code="invalid_recovery_code")


def test_disabling_a_factor_that_is_not_enabled_is_refused(ledger: Ledger, account: str) -> None:
    enable_totp(ledger, account)
    before = ledger.event_count()

    ledger.refused("mfa", "disable", account, "sms", code="factor_not_enabled")

    assert ledger.event_count() == before


def test_a_first_factor_after_all_were_disabled_brings_a_fresh_set_of_codes(
    ledger: Ledger, account: str
) -> None:
    old = enable_totp(ledger, account)
    ledger.ok("mfa", "disable", account, "totp")

    new = enable_totp(ledger, account)

    assert len(new) == 10
    assert not set(old) & set(new)
    ledger.refused("mfa", "recovery-codes", "use", account, old[0], code="invalid_recovery_code")
    assert ledger.ok("mfa", "recovery-codes", "use", account, new[0]) == {
        "ok": True,
        "remaining": 9,
    }


# ---- recovery codes -------------------------------------------------------------------------


def test_ten_codes_each_work_exactly_once(ledger: Ledger, account: str) -> None:
    codes = enable_totp(ledger, account)
    assert len(codes) == 10
    assert all(re.fullmatch(r"[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}", code) for code in codes)

    for spent, code in enumerate(codes, start=1):
        used = ledger.ok("mfa", "recovery-codes", "use", account, code)
        assert used["remaining"] == 10 - spent
    assert ledger.ok("mfa", "status", account)["recovery_codes"]["remaining"] == 0

    before = ledger.event_count()
    error = ledger.refused(
        "mfa", "recovery-codes", "use", account, codes[0], code="invalid_recovery_code"
    )
    assert "no recovery codes left" in error["error"]["message"]
    assert ledger.event_count() == before + 1  # the refused attempt is in the ledger


def test_a_spent_code_is_refused_and_the_attempt_recorded(ledger: Ledger, account: str) -> None:
    codes = enable_totp(ledger, account)
    ledger.ok("mfa", "recovery-codes", "use", account, codes[3])
    before = ledger.event_count()

    ledger.refused("mfa", "recovery-codes", "use", account, codes[3], code="invalid_recovery_code")

    assert ledger.event_count() == before + 1
    assert ledger.ok("mfa", "status", account)["recovery_codes"]["remaining"] == 9
    latest = ledger.ok("audit", account)[0]
    assert latest["action"] == "mfa_verification_failed"
    assert latest["details"] == {"factor": "recovery_code", "reason": "invalid_recovery_code"}


def test_a_code_that_was_never_issued_is_refused(ledger: Ledger, account: str) -> None:
    codes = enable_totp(ledger, account)
    never_issued = next(c for c in ("abcd-efgh-jkmn", "mnkj-hgfe-dcba") if c not in codes)

    ledger.refused(
        "mfa", "recovery-codes", "use", account, never_issued, code="invalid_recovery_code"
    )

    assert ledger.ok("mfa", "status", account)["recovery_codes"]["remaining"] == 10


@pytest.mark.parametrize(
    "retype",
    [
        pytest.param(str.upper, id="upper-case"),
        pytest.param(lambda code: code.replace("-", ""), id="without-dashes"),
        pytest.param(lambda code: code.replace("-", " "), id="spaces-for-dashes"),
        pytest.param(lambda code: code.upper().replace("-", ""), id="upper-case-without-dashes"),
    ],
)
def test_codes_are_case_and_dash_insensitive(
    ledger: Ledger, account: str, retype: Callable[[str], str]
) -> None:
    codes = enable_totp(ledger, account)
    typed = retype(codes[0])
    assert typed != codes[0]

    assert ledger.ok("mfa", "recovery-codes", "use", account, typed)["remaining"] == 9
    # It was the same code: spent now, however it is typed.
    ledger.refused("mfa", "recovery-codes", "use", account, codes[0], code="invalid_recovery_code")


def test_regenerating_voids_every_earlier_code(ledger: Ledger, account: str) -> None:
    old = enable_totp(ledger, account)
    ledger.ok("mfa", "recovery-codes", "use", account, old[0])

    new = ledger.later(minutes=5).ok("mfa", "recovery-codes", "regenerate", account)[
        "recovery_codes"
    ]

    assert len(new) == 10
    assert not set(old) & set(new)
    status = ledger.ok("mfa", "status", account)["recovery_codes"]
    assert status == {"remaining": 10, "generated_at": "2026-11-14T09:05:00Z"}
    for unused_old in old[1:4]:
        ledger.refused(
            "mfa", "recovery-codes", "use", account, unused_old, code="invalid_recovery_code"
        )
    assert ledger.ok("mfa", "recovery-codes", "use", account, new[0])["remaining"] == 9
    assert ledger.ok("mfa", "recovery-codes", "use", account, new[9])["remaining"] == 8


def test_regenerating_needs_a_factor(ledger: Ledger, account: str) -> None:
    before = ledger.event_count()

    error = ledger.refused("mfa", "recovery-codes", "regenerate", account, code="mfa_not_enabled")

    assert "second factor" in error["error"]["message"]
    assert ledger.event_count() == before


def test_regenerating_after_the_last_factor_was_disabled_is_refused(
    ledger: Ledger, account: str
) -> None:
    enable_totp(ledger, account)
    ledger.ok("mfa", "disable", account, "totp")

    ledger.refused("mfa", "recovery-codes", "regenerate", account, code="mfa_not_enabled")


# ---- what the audit log shows -----------------------------------------------------------------


def test_the_audit_log_tells_the_story_with_actor_ip_and_factor(
    ledger: Ledger, account: str
) -> None:
    ledger.ok("user", "create", "admin@acme.test", "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", "admin@acme.test")

    enable_totp(ledger, account, "--ip", "203.0.113.7", "--user-agent", "Firefox/140")
    ledger.later(minutes=1).ok(
        "mfa", "recovery-codes", "regenerate", account, "--ip", "2001:db8::7"
    )
    ledger.later(minutes=1).ok(
        "mfa", "disable", account, "totp", "--actor", "admin@acme.test", "--ip", "198.51.100.2"
    )

    log = ledger.ok("audit", account)
    story = [(e["action"], e["actor"], e["ip"], e["details"]) for e in log]
    assert story == [
        ("mfa_disabled", "admin@acme.test", "198.51.100.2", {"factor": "totp"}),
        ("recovery_codes_regenerated", account, "2001:db8::7", {"count": 10}),
        ("recovery_codes_generated", account, "203.0.113.7", {"count": 10}),
        ("mfa_enabled", account, "203.0.113.7", {"factor": "totp"}),
        ("account_created", account, None, {}),
    ]
    assert [e["timestamp"] for e in log[:3]] == [
        "2026-11-14T09:02:00Z",
        "2026-11-14T09:01:00Z",
        "2026-11-14T09:00:00Z",
    ]


def test_the_audit_log_names_the_sms_factor_with_a_masked_number(
    ledger: Ledger, account: str
) -> None:
    enable_totp(ledger, account)
    enable_sms(ledger, account)
    ledger.ok("mfa", "disable", account, "sms", "--ip", "192.0.2.10")

    log = ledger.ok("audit", account)
    enabled = next(
        e for e in log if e["action"] == "mfa_enabled" and e["details"]["factor"] == "sms"
    )
    assert enabled["details"] == {"factor": "sms", "phone": "+1•••••0123"}
    assert log[0]["action"] == "mfa_disabled"
    assert log[0]["details"] == {"factor": "sms"}
    assert log[0]["ip"] == "192.0.2.10"
