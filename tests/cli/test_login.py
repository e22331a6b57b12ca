"""Signing in from the command line: every outcome, and what the login history keeps of it.

A refused sign-in answers `{"outcome": "failed", "reason": R, "error": {"code": R, "message":
M}}` (exit 1) and is recorded; the history shows each attempt with its method, address,
location, outcome, reason and factor. An SSO sign-in hands over the ID token the organisation's
OpenID provider issued (`tests.identity_provider.SigningIdp` mints them here).
"""

from __future__ import annotations

import functools
import json
import re
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import Result

from tests.conftest import Ledger
from tests.identity_provider import SigningIdp

PASSWORD = "s3cret-pass"
IP = "81.2.69.160"  # a public address the bundled GeoIP database places
LOCATION = "Gamlingay, United Kingdom"
OFFICE_IP = "10.1.2.3"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = "+14155550123"
SIX_DIGITS = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")
ADMIN = "admin@acme.test"


# ---- steps a user takes ----------------------------------------------------------------------


def attempt(
    ledger: Ledger,
    email: str,
    method: str,
    *extra: str,
    stdin: str | None = None,
    ip: str = IP,
) -> Result:
    """One `login --json` as typed; the raw click Result."""
    return ledger.run(
        "login",
        email,
        "--method",
        method,
        "--ip",
        ip,
        "--user-agent",
        BROWSER,
        *extra,
        "--json",
        stdin=stdin,
    )


def outcome(result: Result) -> dict[str, Any]:
    """The login document, checked against its exit code (0 on success, 1 when refused)."""
    document = json.loads(result.stdout)
    if document["outcome"] == "success":
        assert result.exit_code == 0, result.output
        always = {"outcome", "session_id", "session_token", "factor"}
        assert always <= set(document) <= always | {"mfa_enrolment_due", "restricted"}
    else:
        assert result.exit_code == 1, result.output
        error = document.pop("error")
        assert error["code"] == document["reason"], error
        assert isinstance(error["message"], str) and error["message"], error
        assert document == {"outcome": "failed", "reason": document["reason"]}
    return dict(document)


def sign_in(ledger: Ledger, email: str, password: str = PASSWORD, *extra: str) -> dict[str, Any]:
    """A password sign-in; the parsed document whatever the exit code."""
    result = attempt(ledger, email, "password", "--password-stdin", *extra, stdin=f"{password}\n")
    return outcome(result)


@functools.cache
def the_idp() -> SigningIdp:
    """Organisation acme's OpenID provider: one RSA key per test process (generating is slow)."""
    return SigningIdp()


def id_token(ledger: Ledger, email: str, **claims: Any) -> str:
    """A valid ID token for `email`, issued now, never issued before (a fresh `jti`)."""
    return the_idp().token(ledger.now, email, jti=uuid.uuid4().hex, **claims)


def sso_attempt(ledger: Ledger, email: str, *extra: str, **claims: Any) -> Result:
    """An SSO sign-in with a fresh ID token for `email` (`claims` change what it says)."""
    token = id_token(ledger, email, **claims)
    return attempt(ledger, email, "sso", "--id-token-stdin", *extra, stdin=f"{token}\n")


def sso(ledger: Ledger, email: str, *extra: str, **claims: Any) -> dict[str, Any]:
    """The document of `sso_attempt`: by default the IdP asserts MFA (amr pwd+mfa); pass
    amr=["pwd"] for a sign-in where it did not."""
    return outcome(sso_attempt(ledger, email, *extra, **claims))


def with_key(ledger: Ledger, email: str, key: str) -> dict[str, Any]:
    return outcome(attempt(ledger, email, "api-key", "--api-key-stdin", stdin=f"{key}\n"))


def failed_sign_in_events(attempts: int = 1, *, first_from_source: bool = False) -> int:
    """The events `attempts` refused sign-ins append: each is recorded on the account (its
    history) and counted against its source address by the per-source throttle, whose stream
    for that address is opened by the first failure from it."""
    return 2 * attempts + (1 if first_from_source else 0)


def history(ledger: Ledger, email: str) -> list[dict[str, Any]]:
    return list(ledger.ok("history", email))


def last_attempt(ledger: Ledger, email: str) -> dict[str, Any]:
    entries = history(ledger, email)
    assert entries, f"no sign-in attempt recorded for {email}"
    return dict(entries[0])


def failed(
    reason: str, method: str = "password", factor: str | None = None, idp: str | None = None
) -> dict[str, Any]:
    """The history entry a refused attempt from IP leaves (timestamp aside); `idp` is the
    organisation's IdP, for an SSO attempt in an organisation that has one."""
    return {
        "method": method,
        "ip": IP,
        "location": LOCATION,
        "outcome": "failed",
        "reason": reason,
        "factor": factor,
        "idp": idp,
    }


def succeeded(
    method: str = "password", factor: str | None = None, idp: str | None = None
) -> dict[str, Any]:
    return {
        "method": method,
        "ip": IP,
        "location": LOCATION,
        "outcome": "success",
        "reason": None,
        "factor": factor,
        "idp": idp,
    }


def without_timestamp(entry: dict[str, Any]) -> dict[str, Any]:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["timestamp"]), entry
    return {key: value for key, value in entry.items() if key != "timestamp"}


def assert_last_attempt(ledger: Ledger, email: str, expected: dict[str, Any]) -> None:
    assert without_timestamp(last_attempt(ledger, email)) == expected


def create_user(ledger: Ledger, email: str, password: str | None = PASSWORD) -> str:
    if password is None:
        ledger.ok("user", "create", email, "--org", "acme")
    else:
        ledger.ok(
            "user", "create", email, "--org", "acme", "--password-stdin", stdin=f"{password}\n"
        )
    return email


@pytest.fixture
def ada(ledger: Ledger) -> str:
    """Organisation `acme` and its member ada@acme.test, who has a password."""
    ledger.ok("org", "create", "acme")
    return create_user(ledger, "ada@acme.test")


def enable_totp(ledger: Ledger, email: str) -> tuple[pyotp.TOTP, list[str]]:
    """Enrol and confirm an authenticator; moves past the confirming code's time step."""
    secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
    authenticator = pyotp.TOTP(secret)
    confirmed = ledger.ok("mfa", "totp", "confirm", email, authenticator.at(ledger.now))
    ledger.later(seconds=30)
    return authenticator, list(confirmed["recovery_codes"])


def totp_now(ledger: Ledger, authenticator: pyotp.TOTP) -> str:
    return str(authenticator.at(ledger.now))


def wrong(code: str) -> str:
    """A well-formed code that is certainly not `code`."""
    return f"{(int(code) + 1) % 10**6:06d}"


def texted_code(ledger: Ledger) -> str:
    """The code in the newest text: by contract, its only run of six digits."""
    texts = ledger.ok("sms", "outbox")
    assert texts, "nothing was texted"
    codes = SIX_DIGITS.findall(texts[0]["body"])
    assert len(codes) == 1, texts[0]
    return str(codes[0])


def enable_sms(ledger: Ledger, email: str) -> None:
    ledger.ok("mfa", "sms", "enrol", email, "--phone", PHONE)
    ledger.ok("mfa", "sms", "confirm", email, texted_code(ledger))


def send_sms_code(ledger: Ledger, email: str) -> str:
    assert ledger.ok("mfa", "sms", "send-code", email) == {"ok": True, "sent": True}
    return texted_code(ledger)


def configure_sso(ledger: Ledger, folder: Path, mfa: str, *, enforce: bool = False) -> None:
    """Organisation acme signs in through `the_idp()`, its keys pinned (a file in `folder`)."""
    idp = the_idp()
    ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer),
        *("--client-id", idp.client_id, "--jwks-file", str(idp.jwks_file(folder))),
        *("--mfa", mfa, *(["--enforce"] if enforce else [])),
    )


def refused_with_stdin(ledger: Ledger, *args: str, stdin: str, code: str) -> dict[str, Any]:
    """Like `ledger.refused`, for commands that read a secret from stdin."""
    result = ledger.run(*args, "--json", stdin=stdin)
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["error"]["code"] == code, document
    return dict(document)


# ---- passwords -----------------------------------------------------------------------------


def test_the_right_password_opens_a_session_without_a_second_factor(
    ledger: Ledger, ada: str
) -> None:
    signed_in = sign_in(ledger, ada)

    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] is None
    assert signed_in["session_token"].startswith("fls.")
    assert signed_in["session_id"] in signed_in["session_token"]
    entry = last_attempt(ledger, ada)
    assert entry["timestamp"] == "2026-11-14T09:00:00Z"
    assert without_timestamp(entry) == succeeded()
    checked = ledger.ok("sessions", "check", "--token-stdin", stdin=signed_in["session_token"])
    assert checked["active"] is True and checked["email"] == ada


def test_a_wrong_password_is_refused_and_recorded(ledger: Ledger, ada: str) -> None:
    before = ledger.event_count()

    result = attempt(ledger, ada, "password", "--password-stdin", stdin="not-the-password\n")

    assert outcome(result) == {"outcome": "failed", "reason": "invalid_password"}
    assert "wrong e-mail or password" in result.stderr
    assert ledger.event_count() == before + failed_sign_in_events(first_from_source=True)
    assert_last_attempt(ledger, ada, failed("invalid_password"))


def test_history_is_newest_first_and_keeps_where_each_attempt_came_from(
    ledger: Ledger, ada: str
) -> None:
    sign_in(ledger, ada, "not-the-password")
    ledger.later(minutes=1)
    result = attempt(
        ledger, ada, "password", "--password-stdin", stdin=f"{PASSWORD}\n", ip=OFFICE_IP
    )
    assert outcome(result)["outcome"] == "success"

    entries = history(ledger, ada)

    assert [(e["timestamp"], e["outcome"], e["ip"], e["location"]) for e in entries] == [
        ("2026-11-14T09:01:00Z", "success", OFFICE_IP, "Private network"),
        ("2026-11-14T09:00:00Z", "failed", IP, LOCATION),
    ]


# ---- unknown accounts cannot be told from wrong secrets ------------------------------------


def test_an_unknown_email_answers_exactly_like_a_wrong_password(ledger: Ledger, ada: str) -> None:
    wrong_password = attempt(ledger, ada, "password", "--password-stdin", stdin="nope-nope-1\n")
    before = ledger.event_count()

    unknown = attempt(
        ledger, "nobody@acme.test", "password", "--password-stdin", stdin="nope-nope-1\n"
    )

    assert outcome(unknown) == {"outcome": "failed", "reason": "invalid_password"}
    assert (unknown.exit_code, unknown.stdout, unknown.stderr) == (
        wrong_password.exit_code,
        wrong_password.stdout,
        wrong_password.stderr,
    )
    assert ledger.event_count() > before  # the probe is in the ledger all the same


def test_an_unknown_email_with_an_api_key_answers_like_a_bad_key(ledger: Ledger, ada: str) -> None:
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    before = ledger.event_count()

    unknown = with_key(ledger, "nobody@acme.test", key)

    assert unknown == {"outcome": "failed", "reason": "invalid_api_key"}
    assert ledger.event_count() > before


def test_an_unknown_email_with_an_api_key_prints_the_same_words_as_a_bad_key(
    ledger: Ledger, ada: str
) -> None:
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    bad_key = attempt(ledger, ada, "api-key", "--api-key-stdin", stdin=f"{forged}\n")

    unknown = attempt(ledger, "nobody@acme.test", "api-key", "--api-key-stdin", stdin=f"{key}\n")

    assert (unknown.exit_code, unknown.stdout, unknown.stderr) == (
        bad_key.exit_code,
        bad_key.stdout,
        bad_key.stderr,
    )


def test_an_unknown_email_signing_in_by_sso_answers_like_an_account_without_sso(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """Even with a valid ID token from the organisation's own IdP, an address with no account
    is not told so: it answers as an account in an organisation without SSO does."""
    configure_sso(ledger, tmp_path, "idp")
    ledger.ok("org", "create", "globex")
    bob = "bob@globex.test"
    ledger.ok("user", "create", bob, "--org", "globex")
    without_sso = sso_attempt(ledger, bob)
    before = ledger.event_count()

    unknown = sso_attempt(ledger, "nobody@acme.test")

    assert outcome(unknown) == {"outcome": "failed", "reason": "sso_not_configured"}
    assert (unknown.exit_code, unknown.stdout, unknown.stderr) == (
        without_sso.exit_code,
        without_sso.stdout,
        without_sso.stderr,
    )
    assert ledger.event_count() > before


def test_each_attempt_for_an_unknown_email_is_one_more_event(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "idp")
    nobody = "nobody@acme.test"
    probes = [
        ("password", ("--password-stdin",), "nope-nope-1\n"),
        ("api-key", ("--api-key-stdin",), "flk.0123456789ab.not-a-real-key\n"),
        ("sso", ("--id-token-stdin",), f"{id_token(ledger, nobody)}\n"),
    ]
    sign_in(ledger, ada, "not-the-password")  # IP has failed before: its throttle stream exists
    counts = [ledger.event_count()]
    for method, extra, stdin in probes:
        outcome(attempt(ledger, nobody, method, *extra, stdin=stdin))
        counts.append(ledger.event_count())

    assert counts == [counts[0] + failed_sign_in_events(n) for n in range(4)]


def test_an_unknown_email_costs_about_as_long_as_a_wrong_password(ledger: Ledger, ada: str) -> None:
    def median_seconds(email: str) -> float:
        durations = []
        for _ in range(5):
            started = time.perf_counter()
            attempt(ledger, email, "password", "--password-stdin", stdin="nope-nope-1\n")
            durations.append(time.perf_counter() - started)
        return statistics.median(durations)

    attempt(ledger, "warm-up@acme.test", "password", "--password-stdin", stdin="nope-nope-1\n")
    known = median_seconds(ada)
    unknown = median_seconds("nobody@acme.test")

    assert 0.33 < unknown / known < 3, (known, unknown)


# ---- authenticator app -----------------------------------------------------------------------


def test_with_an_authenticator_enabled_the_password_alone_is_not_enough(
    ledger: Ledger, ada: str
) -> None:
    enable_totp(ledger, ada)

    assert sign_in(ledger, ada) == {"outcome": "failed", "reason": "mfa_required"}
    assert_last_attempt(ledger, ada, failed("mfa_required"))


def test_password_and_authenticator_code_sign_in_once_per_code(ledger: Ledger, ada: str) -> None:
    authenticator, _ = enable_totp(ledger, ada)
    code = totp_now(ledger, authenticator)

    first = sign_in(ledger, ada, PASSWORD, "--totp", code)
    assert first["outcome"] == "success"
    assert first["factor"] == "totp"
    assert_last_attempt(ledger, ada, succeeded(factor="totp"))

    replayed = sign_in(ledger.later(seconds=5), ada, PASSWORD, "--totp", code)

    assert replayed == {"outcome": "failed", "reason": "mfa_code_reused"}
    assert_last_attempt(ledger, ada, failed("mfa_code_reused", factor="totp"))


def test_a_wrong_authenticator_code_is_invalid_mfa_code(ledger: Ledger, ada: str) -> None:
    authenticator, _ = enable_totp(ledger, ada)

    denied = sign_in(ledger, ada, PASSWORD, "--totp", wrong(totp_now(ledger, authenticator)))

    assert denied == {"outcome": "failed", "reason": "invalid_mfa_code"}
    assert_last_attempt(ledger, ada, failed("invalid_mfa_code", factor="totp"))


# ---- SMS -------------------------------------------------------------------------------------


def test_a_texted_code_signs_in_with_factor_sms(ledger: Ledger, ada: str) -> None:
    enable_sms(ledger, ada)
    code = send_sms_code(ledger.later(minutes=1), ada)

    signed_in = sign_in(ledger.later(minutes=2), ada, PASSWORD, "--sms", code)

    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "sms"
    assert_last_attempt(ledger, ada, succeeded(factor="sms"))
    # Single use: the same code again is no longer outstanding.
    again = sign_in(ledger.later(seconds=10), ada, PASSWORD, "--sms", code)
    assert again == {"outcome": "failed", "reason": "invalid_mfa_code"}


def test_a_texted_code_expires_after_ten_minutes(ledger: Ledger, ada: str) -> None:
    enable_sms(ledger, ada)
    code = send_sms_code(ledger.later(minutes=1), ada)

    denied = sign_in(ledger.later(minutes=10, seconds=1), ada, PASSWORD, "--sms", code)

    assert denied == {"outcome": "failed", "reason": "sms_code_expired"}
    assert_last_attempt(ledger, ada, failed("sms_code_expired", factor="sms"))


# ---- recovery codes --------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(ledger: Ledger, ada: str) -> None:
    _, recovery_codes = enable_totp(ledger, ada)
    assert ledger.ok("mfa", "status", ada)["recovery_codes"]["remaining"] == 10

    signed_in = sign_in(ledger, ada, PASSWORD, "--recovery-code", recovery_codes[0])

    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "recovery_code"
    assert_last_attempt(ledger, ada, succeeded(factor="recovery_code"))

    again = sign_in(ledger.later(minutes=1), ada, PASSWORD, "--recovery-code", recovery_codes[0])

    assert again == {"outcome": "failed", "reason": "invalid_recovery_code"}
    assert_last_attempt(ledger, ada, failed("invalid_recovery_code", factor="recovery_code"))
    assert ledger.ok("mfa", "status", ada)["recovery_codes"]["remaining"] == 9


# ---- API keys --------------------------------------------------------------------------------


def test_an_api_key_signs_in_without_a_second_factor_until_revoked(
    ledger: Ledger, ada: str
) -> None:
    enable_totp(ledger, ada)  # a second factor does not apply to API keys
    created = ledger.ok("api-keys", "create", ada, "--name", "ci")
    assert set(created) >= {"key_id", "key"}
    assert ledger.ok("api-keys", "list", ada)[0]["last_used"] is None

    signed_in = with_key(ledger.later(minutes=1), ada, created["key"])

    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] is None
    assert_last_attempt(ledger, ada, succeeded(method="api_key"))
    [listed] = ledger.ok("api-keys", "list", ada)
    assert listed["key_id"] == created["key_id"]
    assert listed["name"] == "ci"
    assert listed["last_used"] == "2026-11-14T09:01:30Z"
    assert listed["revoked"] is False

    ledger.ok("api-keys", "revoke", ada, created["key_id"])
    denied = with_key(ledger.later(minutes=1), ada, created["key"])

    assert denied == {"outcome": "failed", "reason": "invalid_api_key"}
    assert_last_attempt(ledger, ada, failed("invalid_api_key", method="api_key"))
    assert ledger.ok("api-keys", "list", ada)[0]["revoked"] is True


# ---- single sign-on --------------------------------------------------------------------------


def test_sso_without_configuration_is_refused(ledger: Ledger, ada: str) -> None:
    assert sso(ledger, ada) == {"outcome": "failed", "reason": "sso_not_configured"}
    assert_last_attempt(ledger, ada, failed("sso_not_configured", method="sso"))


def test_sso_without_an_id_token_is_bad_input_and_records_nothing(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "idp")
    before = ledger.event_count()

    result = attempt(ledger, ada, "sso")

    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    assert ledger.event_count() == before


def test_sso_with_idp_mfa_needs_the_idp_to_assert_mfa(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "idp")

    assert sso(ledger, ada, amr=["pwd"]) == {"outcome": "failed", "reason": "idp_mfa_required"}
    assert_last_attempt(ledger, ada, failed("idp_mfa_required", method="sso", idp="okta"))

    signed_in = sso(ledger.later(minutes=1), ada, amr=["pwd", "mfa"])
    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "idp"
    assert_last_attempt(ledger, ada, succeeded(method="sso", factor="idp", idp="okta"))


def test_sso_with_flero_mfa_needs_an_enrolled_and_given_flero_factor(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "flero")

    # Nothing enrolled yet: the IdP's word is not enough.
    assert sso(ledger, ada, amr=["pwd", "mfa"]) == {"outcome": "failed", "reason": "mfa_required"}
    assert_last_attempt(ledger, ada, failed("mfa_required", method="sso", idp="okta"))

    authenticator, _ = enable_totp(ledger, ada)
    assert sso(ledger, ada, amr=["pwd"]) == {"outcome": "failed", "reason": "mfa_required"}

    signed_in = sso(ledger, ada, "--totp", totp_now(ledger, authenticator), amr=["pwd"])
    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "totp"
    assert_last_attempt(ledger, ada, succeeded(method="sso", factor="totp", idp="okta"))


def test_sso_with_both_needs_the_idp_and_a_flero_factor(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "both")
    authenticator, _ = enable_totp(ledger, ada)

    assert sso(ledger, ada, "--totp", totp_now(ledger, authenticator), amr=["pwd"]) == {
        "outcome": "failed",
        "reason": "idp_mfa_required",
    }
    assert sso(ledger, ada, amr=["pwd", "mfa"]) == {"outcome": "failed", "reason": "mfa_required"}

    signed_in = sso(ledger, ada, "--totp", totp_now(ledger, authenticator), amr=["pwd", "mfa"])
    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "totp"
    assert [e["reason"] for e in history(ledger, ada)] == [
        None,
        "mfa_required",
        "idp_mfa_required",
    ]


def test_enforced_sso_refuses_passwords_and_password_changes(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    configure_sso(ledger, tmp_path, "idp", enforce=True)

    assert sign_in(ledger, ada) == {"outcome": "failed", "reason": "sso_required"}
    assert_last_attempt(ledger, ada, failed("sso_required"))
    refused_with_stdin(
        ledger,
        "user",
        "set-password",
        ada,
        "--password-stdin",
        stdin="another-pass-1\n",
        code="password_managed_by_idp",
    )
    assert sign_in(ledger, ada, "another-pass-1") == {"outcome": "failed", "reason": "sso_required"}
    assert sso(ledger, ada)["outcome"] == "success"


def test_only_an_org_admin_can_disconnect_sso(ledger: Ledger, ada: str, tmp_path: Path) -> None:
    create_user(ledger, ADMIN)
    create_user(ledger, "bob@acme.test")
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    configure_sso(ledger, tmp_path, "idp", enforce=True)
    before = ledger.event_count()

    ledger.refused("user", "sso-disconnect", ada, code="admin_required")  # herself
    ledger.refused("user", "sso-disconnect", ada, "--actor", ada, code="admin_required")
    ledger.refused("user", "sso-disconnect", ada, "--actor", "bob@acme.test", code="admin_required")
    assert ledger.event_count() == before
    assert sign_in(ledger, ada) == {"outcome": "failed", "reason": "sso_required"}

    ledger.later(minutes=1).ok("user", "sso-disconnect", ada, "--actor", ADMIN)

    # Enforcement no longer applies to her; SSO no longer signs her in.
    assert sign_in(ledger, ada)["outcome"] == "success"
    assert sso(ledger, ada) == {"outcome": "failed", "reason": "sso_not_configured"}
    # (The attempt names the organisation's IdP: she tried it, it no longer signs her in.)
    assert_last_attempt(ledger, ada, failed("sso_not_configured", method="sso", idp="okta"))
    assert ledger.ok("user", "set-password", ada, "--password-stdin", stdin="another-pass-1\n")
    assert sign_in(ledger, ada, "another-pass-1")["outcome"] == "success"
    # Everyone else in the organisation is still held to SSO.
    assert sign_in(ledger, "bob@acme.test") == {"outcome": "failed", "reason": "sso_required"}
