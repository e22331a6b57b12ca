"""Enrolling an authenticator app, as a user does it from the command line."""

from __future__ import annotations

from datetime import timedelta

import pyotp

from tests.conftest import Ledger


def code_at(secret: str, ledger: Ledger, drift_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(ledger.now + timedelta(seconds=30 * drift_steps))


def test_enrol_shows_secret_once_then_confirm_enables_and_hands_out_recovery_codes(
    ledger: Ledger, account: str
) -> None:
    enrolment = ledger.ok("mfa", "totp", "enrol", account)
    assert len(enrolment["secret"]) == 32  # 160 bits of base32
    assert enrolment["otpauth_uri"].startswith(
        f"otpauth://totp/Flero:{account.replace('@', '%40')}?secret={enrolment['secret']}"
    )
    assert "issuer=Flero" in enrolment["otpauth_uri"]
    assert ledger.ok("mfa", "status", account)["totp"] == {"enabled": False, "enrolled_at": None}

    confirmed = ledger.later(seconds=20).ok(
        "mfa", "totp", "confirm", account, code_at(enrolment["secret"], ledger)
    )

    assert confirmed["enabled"] is True
    assert len(confirmed["recovery_codes"]) == 10
    assert len(set(confirmed["recovery_codes"])) == 10
    status = ledger.ok("mfa", "status", account)
    assert status["totp"]["enabled"] is True
    assert status["totp"]["enrolled_at"] == "2026-11-14T09:00:20Z"
    assert status["recovery_codes"]["remaining"] == 10


def test_enrol_without_json_draws_a_qr_code(ledger: Ledger, account: str) -> None:
    result = ledger.run("mfa", "totp", "enrol", account)
    assert result.exit_code == 0
    assert "█" in result.stdout or "▀" in result.stdout
    assert "Or enter this secret by hand:" in result.stdout


def test_a_wrong_code_is_refused_and_recorded(ledger: Ledger, account: str) -> None:
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    wrong = f"{(int(code_at(secret, ledger)) + 1) % 10**6:06d}"
    before = ledger.event_count()

    error = ledger.refused("mfa", "totp", "confirm", account, wrong, code="invalid_mfa_code")

    assert "not valid" in error["error"]["message"]
    assert ledger.event_count() == before + 1  # the failed attempt is in the ledger
    assert ledger.ok("mfa", "status", account)["totp"]["enabled"] is False
    failures = [e for e in ledger.ok("audit", account) if e["action"] == "mfa_verification_failed"]
    assert failures[0]["details"] == {"factor": "totp", "reason": "invalid_mfa_code"}


def test_one_step_of_drift_either_way_is_accepted_two_is_not(ledger: Ledger) -> None:
    ledger.ok("org", "create", "acme")
    for drift, email in [(-1, "early@acme.test"), (1, "late@acme.test"), (2, "far@acme.test")]:
        ledger.ok("user", "create", email, "--org", "acme")
        secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
        args = ("mfa", "totp", "confirm", email, code_at(secret, ledger, drift))
        if abs(drift) <= 1:
            assert ledger.ok(*args)["enabled"] is True
        else:
            ledger.refused(*args, code="invalid_mfa_code")


def test_a_code_is_never_accepted_twice(ledger: Ledger, account: str) -> None:
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    first = code_at(secret, ledger)
    ledger.ok("mfa", "totp", "confirm", account, first)

    # Same code, same 30-second window: a replay.
    ledger.later(seconds=5).refused("mfa", "totp", "verify", account, first, code="mfa_code_reused")
    # The next window's code works once...
    ledger.later(seconds=30)
    following = code_at(secret, ledger)
    assert ledger.ok("mfa", "totp", "verify", account, following)["verified"] is True
    # ...and an earlier step, still inside the drift window, is now a replay too.
    ledger.refused("mfa", "totp", "verify", account, following, code="mfa_code_reused")
    ledger.refused("mfa", "totp", "verify", account, first, code="mfa_code_reused")


def test_replay_protection_survives_a_restart_because_it_is_in_the_ledger(
    ledger: Ledger, account: str
) -> None:
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    ledger.ok("mfa", "totp", "confirm", account, code_at(secret, ledger))
    ledger.later(seconds=30)
    code = code_at(secret, ledger)
    ledger.ok("mfa", "totp", "verify", account, code)
    # A new process (a new runner, nothing cached) still refuses the same code.
    fresh = Ledger(ledger.url).at(ledger.now)
    fresh.refused("mfa", "totp", "verify", account, code, code="mfa_code_reused")


def test_confirm_without_enrolment_and_enrolling_twice_are_refused(
    ledger: Ledger, account: str
) -> None:
    ledger.refused("mfa", "totp", "confirm", account, "123456", code="no_pending_enrolment")
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    ledger.ok("mfa", "totp", "confirm", account, code_at(secret, ledger))
    ledger.refused("mfa", "totp", "enrol", account, code="factor_already_enabled")


def test_only_the_latest_secret_can_be_confirmed(ledger: Ledger, account: str) -> None:
    old = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    new = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    assert old != new
    ledger.refused("mfa", "totp", "confirm", account, code_at(old, ledger), code="invalid_mfa_code")
    assert ledger.ok("mfa", "totp", "confirm", account, code_at(new, ledger))["enabled"]
