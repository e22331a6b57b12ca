"""Attacks on the ledger, one test per threat, each run as the attacker would from the command line.

Each test asserts that the attack fails (exit code and reason code) and that the attempt is
recorded where the product records refusals (one `LoginFailed` or `VerificationFailed` event,
visible in `history` or `audit`), or, where the product deliberately records nothing (session
checks, back-dated commands, refused policy changes), that nothing was appended. The last
threat (reading secrets) is checked against every table, every read command and every refusal.

Two of them found bugs (a back-dated session check, deleted checkpoints), fixed since.
docs/THREAT_MODEL.md names these tests as the proof of each guarantee.
"""

from __future__ import annotations

import ast
import base64
import csv
import hmac
import inspect
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pyotp
import pytest
from argon2 import PasswordHasher, profiles
from click.testing import Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from cli import main
from commands.factors import DisableFactor, disable_factor
from commands.services import Services
from commands.users import SetPassword, SetSecurityAlerts, set_password, set_security_alerts
from commands.workspaces import GrantWorkspace, grant_workspace
from ledger import credentials, passwords, recovery_codes, totp
from ledger.account import Account
from ledger.checkpoints import CHECKPOINT_EVERY
from ledger.clock import FixedClock, format_instant
from ledger.errors import FreshFactorRequired, MfaRequiredByOrg
from ledger.session import Session
from ledger.sign_in import SignIn
from ledger.snapshots import AUTHENTICATED, MAC_SIZE
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from projections.export_files import FIELDS, FORMULA_STARTS, RECORD_FORMATS
from tests.cli.test_exports import Export, forge_without_last_record, public_key_of
from tests.cli.test_login import (
    BROWSER,
    IP,
    PASSWORD,
    SIX_DIGITS,
    attempt,
    configure_sso,
    create_user,
    failed,
    failed_sign_in_events,
    history,
    outcome,
    sign_in,
    sso,
    with_key,
    without_timestamp,
    wrong,
)
from tests.conftest import T0, Ledger
from tests.integration.test_tamper_evidence import Attacker, SnapshotRow

ADA = "ada@acme.test"
ADMIN = "admin@acme.test"
PHONE = "+14155550123"
OTHER_PHONE = "+14155550199"
REUSED = {"outcome": "failed", "reason": "mfa_code_reused"}
LOCKED = {"outcome": "failed", "reason": "locked_out"}


@pytest.fixture
def ada(ledger: Ledger) -> str:
    """Organisation `acme` and its member ada@acme.test, who has a password."""
    ledger.ok("org", "create", "acme")
    return create_user(ledger, ADA)


# ---- steps the user (and the attacker) take ------------------------------------------------------


def code_at(secret: str, ledger: Ledger) -> str:
    return str(pyotp.TOTP(secret).at(ledger.now))


def enrol_totp(ledger: Ledger, email: str) -> tuple[str, str, list[str]]:
    """Enrol and confirm an authenticator now: (secret, confirming code, recovery codes)."""
    secret = str(ledger.ok("mfa", "totp", "enrol", email)["secret"])
    confirming = code_at(secret, ledger)
    codes = ledger.ok("mfa", "totp", "confirm", email, confirming)["recovery_codes"]
    return secret, confirming, list(codes)


def newest_texted_code(ledger: Ledger) -> str:
    body = ledger.ok("sms", "outbox")[0]["body"]
    [code] = SIX_DIGITS.findall(body)
    return str(code)


def enable_sms(ledger: Ledger, email: str, phone: str = PHONE) -> str:
    """Enrol and confirm a phone; returns the confirmation code that was texted."""
    ledger.ok("mfa", "sms", "enrol", email, "--phone", phone)
    code = newest_texted_code(ledger)
    ledger.ok("mfa", "sms", "confirm", email, code)
    return code


def enabled_factors(ledger: Ledger, email: str) -> list[str]:
    status = ledger.ok("mfa", "status", email)
    return [factor for factor in ("totp", "sms") if status[factor]["enabled"]]


def newest_history_entry(ledger: Ledger, email: str) -> dict[str, Any]:
    return without_timestamp(history(ledger, email)[0])


def newest_audit_entry(ledger: Ledger, email: str) -> tuple[str, dict[str, Any]]:
    entry = ledger.ok("audit", email)[0]
    return entry["action"], entry["details"]


def check_token(ledger: Ledger, token: str) -> tuple[int, dict[str, Any]]:
    """`sessions check --token-stdin --json`: exit code and document."""
    result = ledger.run("sessions", "check", "--token-stdin", "--json", stdin=token + "\n")
    return result.exit_code, json.loads(result.stdout)


def token_refused(ledger: Ledger, token: str, code: str = "unknown_session") -> None:
    exit_code, document = check_token(ledger, token)
    assert exit_code == 1, document
    assert document["error"]["code"] == code, document


def token_accepted(ledger: Ledger, token: str) -> dict[str, Any]:
    exit_code, document = check_token(ledger, token)
    assert exit_code == 0, document
    return document


def other_secret_like(secret: str) -> str:
    """A random value of the same form and length: what a guesser would present."""
    while True:
        guess = secrets.token_urlsafe(32)
        if guess != secret and len(guess) == len(secret):
            return guess


def run_json(ledger: Ledger, *args: str, stdin: str | None = None) -> Result:
    return ledger.run(*args, "--json", stdin=stdin)


def error_code(result: Result) -> str:
    return str(json.loads(result.stdout)["error"]["code"])


# ---- (a) a TOTP code replayed within its window --------------------------------------------------


def test_a_replayed_totp_code_is_refused_for_sign_in_and_verify_and_each_replay_is_recorded(
    ledger: Ledger, ada: str
) -> None:
    secret, confirming, _ = enrol_totp(ledger, ada)

    # The code that confirmed the enrolment cannot then sign in (same 30-second step).
    before = ledger.event_count()
    assert sign_in(ledger.later(seconds=5), ada, PASSWORD, "--totp", confirming) == REUSED
    assert ledger.event_count() == before + failed_sign_in_events(first_from_source=True)
    assert newest_history_entry(ledger, ada) == failed("mfa_code_reused", factor="totp")

    # Next step: its code signs in once; replayed five seconds later it is refused.
    code = code_at(secret, ledger.later(seconds=30))
    assert sign_in(ledger, ada, PASSWORD, "--totp", code)["outcome"] == "success"
    before = ledger.event_count()
    assert sign_in(ledger.later(seconds=5), ada, PASSWORD, "--totp", code) == REUSED
    assert ledger.event_count() == before + failed_sign_in_events()
    assert newest_history_entry(ledger, ada) == failed("mfa_code_reused", factor="totp")

    # The code already used to sign in, replayed through `mfa totp verify`.
    before = ledger.event_count()
    ledger.refused("mfa", "totp", "verify", ada, code, code="mfa_code_reused")
    assert ledger.event_count() == before + 1
    assert newest_audit_entry(ledger, ada) == (
        "mfa_verification_failed",
        {"factor": "totp", "reason": "mfa_code_reused"},
    )

    # The other way round: a code accepted by `verify` cannot sign in afterwards, and the
    # earlier step's code, still inside the one-step drift window, is a replay too.
    verified = code_at(secret, ledger.later(seconds=30))
    assert ledger.ok("mfa", "totp", "verify", ada, verified)["verified"] is True
    before = ledger.event_count()
    assert sign_in(ledger.later(seconds=1), ada, PASSWORD, "--totp", verified) == REUSED
    ledger.refused("mfa", "totp", "verify", ada, verified, code="mfa_code_reused")
    ledger.refused("mfa", "totp", "verify", ada, code, code="mfa_code_reused")
    assert ledger.event_count() == before + failed_sign_in_events() + 2
    reasons = [e["reason"] for e in history(ledger, ada)]
    assert reasons[:4] == ["mfa_code_reused", "mfa_code_reused", None, "mfa_code_reused"]


# ---- (b) a spent recovery code used again --------------------------------------------------------


def test_a_spent_recovery_code_is_refused_however_it_is_retyped_and_each_reuse_is_recorded(
    ledger: Ledger, ada: str
) -> None:
    _, _, codes = enrol_totp(ledger, ada)
    signed_in = sign_in(ledger.later(minutes=1), ada, PASSWORD, "--recovery-code", codes[0])
    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "recovery_code"

    before = ledger.event_count()
    again = sign_in(ledger.later(minutes=1), ada, PASSWORD, "--recovery-code", codes[0])

    assert again == {"outcome": "failed", "reason": "invalid_recovery_code"}
    assert ledger.event_count() == before + failed_sign_in_events(first_from_source=True)
    assert newest_history_entry(ledger, ada) == failed(
        "invalid_recovery_code", factor="recovery_code"
    )

    # Outside sign-in, typed differently (upper case, no dashes): the same spent code.
    retyped = codes[0].upper().replace("-", "")
    before = ledger.event_count()
    ledger.refused("mfa", "recovery-codes", "use", ada, retyped, code="invalid_recovery_code")
    assert ledger.event_count() == before + 1
    assert newest_audit_entry(ledger, ada) == (
        "mfa_verification_failed",
        {"factor": "recovery_code", "reason": "invalid_recovery_code"},
    )

    # A code spent through `use` cannot sign in either.
    assert ledger.ok("mfa", "recovery-codes", "use", ada, codes[1])["remaining"] == 8
    before = ledger.event_count()
    assert sign_in(ledger, ada, PASSWORD, "--recovery-code", codes[1])["reason"] == (
        "invalid_recovery_code"
    )
    ledger.refused("mfa", "recovery-codes", "use", ada, codes[1], code="invalid_recovery_code")
    assert ledger.event_count() == before + failed_sign_in_events() + 1
    assert ledger.ok("mfa", "status", ada)["recovery_codes"]["remaining"] == 8


# ---- (c) an old recovery code after regeneration -------------------------------------------------


def test_recovery_codes_from_before_a_regeneration_are_refused_and_each_attempt_is_recorded(
    ledger: Ledger, ada: str
) -> None:
    _, _, old = enrol_totp(ledger, ada)
    ledger.ok("mfa", "recovery-codes", "use", ada, old[0])
    new = ledger.later(minutes=5).ok("mfa", "recovery-codes", "regenerate", ada)["recovery_codes"]
    assert not set(old) & set(new)

    before = ledger.event_count()
    denied = sign_in(ledger.later(minutes=1), ada, PASSWORD, "--recovery-code", old[1])

    assert denied == {"outcome": "failed", "reason": "invalid_recovery_code"}
    assert ledger.event_count() == before + failed_sign_in_events(first_from_source=True)
    assert newest_history_entry(ledger, ada) == failed(
        "invalid_recovery_code", factor="recovery_code"
    )
    for unused_old in (old[2], old[9], old[0]):  # unused ones, and the one already spent
        before = ledger.event_count()
        ledger.refused(
            "mfa", "recovery-codes", "use", ada, unused_old, code="invalid_recovery_code"
        )
        assert ledger.event_count() == before + 1
        assert newest_audit_entry(ledger, ada) == (
            "mfa_verification_failed",
            {"factor": "recovery_code", "reason": "invalid_recovery_code"},
        )
    # The refusals spent nothing, and the new set is what works.
    assert ledger.ok("mfa", "status", ada)["recovery_codes"]["remaining"] == 10
    assert sign_in(ledger, ada, PASSWORD, "--recovery-code", new[0])["outcome"] == "success"


# ---- (d) a revoked session token -----------------------------------------------------------------


def test_a_revoked_session_token_is_refused_by_sessions_check_however_revoked_and_appends_nothing(
    ledger: Ledger, ada: str
) -> None:
    """Refused checks are deliberately not recorded (tests/cli/test_sessions.py): the ledger
    must neither accept the token nor record activity on the revoked session."""
    laptop, phone, stolen = (sign_in(ledger, ada)["session_token"] for _ in range(3))
    laptop_id, phone_id, stolen_id = (token.split(".")[2] for token in (laptop, phone, stolen))

    # One session signed out.
    ledger.later(minutes=1).ok("sessions", "revoke", ada, stolen_id)
    ledger.later(minutes=10)  # an accepted check now would record activity: one more event
    before = ledger.event_count()

    token_refused(ledger, stolen)
    token_refused(Ledger(ledger.url).at(ledger.now), stolen)  # a fresh process, nothing cached

    assert ledger.event_count() == before
    assert token_accepted(ledger, phone)["active"] is True  # the others still work...
    assert ledger.event_count() == before + 1  # ...and their use is recorded

    # The panic button: every session but the laptop's.
    ledger.later(minutes=1).ok("sessions", "revoke-others", ada, "--keep", laptop_id)
    before = ledger.event_count()
    token_refused(ledger.later(minutes=10), phone)
    token_refused(ledger, stolen)
    assert ledger.event_count() == before
    assert token_accepted(ledger, laptop)["active"] is True
    assert [row["session_id"] for row in ledger.ok("sessions", "list", ada)] == [laptop_id]
    ledger.refused("sessions", "revoke", ada, stolen_id, code="unknown_session")
    ledger.refused("sessions", "revoke", ada, phone_id, code="unknown_session")

    # A password change that signs every session out takes the kept one too.
    ledger.ok(
        "user", "set-password", ada, "--password-stdin", "--revoke-other-sessions",
        stdin="a-brand-new-pass\n",
    )  # fmt: skip
    before = ledger.event_count()
    token_refused(ledger.later(minutes=10), laptop)
    assert ledger.event_count() == before
    assert ledger.ok("sessions", "list", ada) == []


# ---- (d2) a stolen session making itself at home (issue 13) ---------------------------------


def test_a_stolen_session_cannot_step_up_on_another_sessions_proof_or_on_an_enrolment(
    ledger: Ledger, ada: str
) -> None:
    """Issue 13's attack: a session token stolen an hour ago enrolled the attacker's phone,
    then disabled TOTP and regenerated the codes; the owner signing in with TOTP elsewhere gave
    it ten fresh minutes; and it could mint a never-expiring API key. Step-up now belongs to
    the session: every sensitive change from the stolen one is refused and recorded."""
    from fastapi.testclient import TestClient

    from ledger.store_location import StoreLocation
    from tests.web.conftest import MovableClock
    from web.app import create_app

    secret, _, _ = enrol_totp(ledger, ada)
    clock = MovableClock(ledger.now + timedelta(minutes=1))
    with TestClient(create_app(StoreLocation.parse(ledger.url), clock)) as client:

        def signed_in() -> dict[str, str]:
            code = pyotp.TOTP(secret).at(clock.now())
            body = {"email": ada, "method": "password", "password": PASSWORD, "totp": code}
            answer = client.post("/api/login", json=body)
            assert answer.status_code == 200, answer.text
            clock.advance(seconds=30)  # the next sign-in takes the next time step
            return {"Authorization": f"Bearer {answer.json()['session_token']}"}

        stolen = signed_in()
        clock.advance(hours=1)
        owner = signed_in()  # the owner signs in with her app, on her phone

        changes = [
            ("/api/mfa/sms/enrol", {"phone": "+14155550199"}),
            ("/api/mfa/disable", {"factor": "totp"}),
            ("/api/mfa/recovery-codes/regenerate", None),
            ("/api/api-keys", {"name": "persistence"}),
            ("/api/mfa/totp/enrol", None),
        ]
        for path, body in changes:
            answer = client.post(path, headers=stolen, json=body)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json()["error"]["code"] == "reauthentication_required"
        audit = ledger.ok("audit", ada)
        refused = [e for e in audit if e["action"] == "reauthentication_required"]
        assert len(refused) == len(changes)

        # The owner's fresh session may; the stolen one still may not.
        key = client.post("/api/api-keys", headers=owner, json={"name": "ci"})
        assert key.status_code == 200, key.text
        assert client.post("/api/api-keys", headers=stolen, json={"name": "x"}).status_code == 403
        listed = client.get("/api/sessions", headers=stolen).json()
    status = ledger.ok("mfa", "status", ada)
    assert status["totp"]["enabled"] is True and status["sms"]["enabled"] is False
    assert [k["name"] for k in ledger.ok("api-keys", "list", ada)] == ["ci"]

    # The password and the alert settings have no route a session reaches today; their
    # commands ask the acting session for its proof all the same, and record the refusal.
    [stolen_session] = [row["session_id"] for row in listed if row["current"]]
    services = Services(store=LedgerStore(StoreLocation.parse(ledger.url)), clock=clock)
    with pytest.raises(FreshFactorRequired):
        password = SetPassword(email=ada, password="another secret", acting_session=stolen_session)
        set_password(services, password)
    with pytest.raises(FreshFactorRequired):
        alerts = SetSecurityAlerts(email=ada, on=False, acting_session=stolen_session)
        set_security_alerts(services, alerts)
    audit = ledger.ok("audit", ada)
    refused = [e["details"]["action"] for e in audit if e["action"] == "reauthentication_required"]
    assert {"change_password", "change_alert_settings"} <= set(refused)
    assert services.store.account(ada).security_alerts is True  # unchanged
    signed_in = sign_in(ledger.later(hours=2), ada, PASSWORD, "--totp", code_at(secret, ledger))
    assert signed_in["outcome"] == "success"  # the password is the owner's still


def test_enforcing_sso_ends_other_sessions_and_holds_api_keys_until_authorised_again(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """Issue 13's attack: enforcing SSO left API keys and earlier password sessions working.
    Now enforcement ends every session not opened with SSO, and a key signs in again only once
    its owner authorises it from a session she opened with SSO."""
    from fastapi.testclient import TestClient

    from ledger.store_location import StoreLocation
    from web.app import create_app

    key = ledger.ok("api-keys", "create", ada, "--name", "ci")
    password_session = sign_in(ledger, ada)["session_token"]
    key_session = with_key(ledger, ada, key["key"])["session_token"]

    configure_sso(ledger.later(minutes=1), tmp_path, "idp", enforce=True)

    ledger.later(minutes=1)
    token_refused(ledger, password_session)
    token_refused(ledger, key_session)
    assert with_key(ledger, ada, key["key"])["reason"] == "sso_required"
    assert history(ledger, ada)[0]["reason"] == "sso_required"
    assert "sso_enforced" in [e["action"] for e in ledger.ok("audit", ada)]
    assert ledger.ok("sessions", "list", ada) == []

    by_sso = sso(ledger, ada)["session_token"]
    with TestClient(create_app(StoreLocation.parse(ledger.url), FixedClock(ledger.now))) as web:
        bearer = {"Authorization": f"Bearer {by_sso}"}
        path = f"/api/api-keys/{key['key_id']}/reauthorise"
        assert web.post(path, headers=bearer).status_code == 200
    assert with_key(ledger, ada, key["key"])["outcome"] == "success"
    assert "api_key_reauthorised" in [e["action"] for e in ledger.ok("audit", ada)]


# ---- (e) guessing session tokens and API keys ----------------------------------------------------


# The functions that compare a presented secret with what is stored, and the constant-time
# primitive each must use (directly, or through the helper that does).
CONSTANT_TIME_COMPARISONS: list[tuple[Callable[..., Any], str]] = [
    (credentials.matches, "hmac.compare_digest"),
    (totp.match_step, "hmac.compare_digest"),
    (recovery_codes.find_match, "hmac.compare_digest"),
    (Account._check_sms_code, "secrets.compare_digest"),
    (Account.confirm_sms, "secrets.compare_digest"),
    (Account._check_totp, "totp.match_step"),
    (Account._check_recovery_code, "recovery_codes.find_match"),
    (SignIn._check_api_key, "credentials.matches"),
    (SignIn.check_legacy_session, "credentials.matches"),
    (Session.check, "credentials.matches"),
]


def equality_tests(function: Callable[..., Any]) -> list[str]:
    """Every `==`, `!=`, `in` or `not in` in the function's source (none may touch a secret;
    these functions have none at all)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops)
    ]


def test_guessed_session_tokens_and_api_keys_are_refused_and_compared_in_constant_time(
    ledger: Ledger, ada: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every comparison with a stored secret goes through the constant-time primitive...
    for function, primitive in CONSTANT_TIME_COMPARISONS:
        source = inspect.getsource(function)
        assert primitive in source, f"{function.__qualname__} does not use {primitive}"
        assert equality_tests(function) == [], function.__qualname__
    assert secrets.compare_digest is hmac.compare_digest
    assert credentials.hmac is hmac  # the standard library's, not a look-alike
    assert "_hasher.verify(" in inspect.getsource(passwords.verify_password)  # argon2's own
    assert isinstance(passwords._hasher, PasswordHasher)
    # ...and is really called, on hashes of equal length, when a guess is presented.
    compared: list[tuple[Any, Any]] = []
    real_compare_digest = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real_compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)

    # A session token with the right account and session, and 256 guessed bits.
    token = sign_in(ledger, ada)["session_token"]
    prefix, secret_part = token.rsplit(".", 1)
    guessed_token = f"{prefix}.{other_secret_like(secret_part)}"
    ledger.later(minutes=10)
    before = ledger.event_count()

    token_refused(ledger, guessed_token)

    assert ledger.event_count() == before  # refused checks are not recorded, by design
    assert (credentials.digest(guessed_token), credentials.digest(token)) in compared
    assert token_accepted(ledger, token)["active"] is True

    # An API key with the right key id and guessed bits; and one with an unknown key id.
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    key_prefix, key_secret = key.rsplit(".", 1)
    guessed_key = f"{key_prefix}.{other_secret_like(key_secret)}"
    unknown_id_key = f"flk.{secrets.token_hex(6)}.{other_secret_like(key_secret)}"
    compared.clear()
    before = ledger.event_count()

    guessed = attempt(ledger.later(minutes=1), ada, "api-key", "--api-key-stdin", stdin=guessed_key)
    unknown = attempt(ledger, ada, "api-key", "--api-key-stdin", stdin=unknown_id_key)

    assert outcome(guessed) == {"outcome": "failed", "reason": "invalid_api_key"}
    # An unknown key id is compared all the same, and answers exactly alike.
    assert (unknown.exit_code, unknown.stdout, unknown.stderr) == (
        guessed.exit_code,
        guessed.stdout,
        guessed.stderr,
    )
    assert ledger.event_count() == before + failed_sign_in_events(2, first_from_source=True)
    assert [without_timestamp(e) for e in history(ledger, ada)[:2]] == [
        failed("invalid_api_key", method="api_key")
    ] * 2
    assert (credentials.digest(guessed_key), credentials.digest(key)) in compared
    assert (credentials.digest(unknown_id_key), credentials.digest("")) in compared
    assert with_key(ledger, ada, key)["outcome"] == "success"


# ---- (f) a password sign-in while SSO is enforced ------------------------------------------------


def test_password_sign_in_under_enforced_sso_is_refused_even_with_every_right_credential(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    secret, _, _ = enrol_totp(ledger, ada)
    configure_sso(ledger, tmp_path, "idp", enforce=True)
    ledger.later(seconds=30)
    before = ledger.event_count()

    right = attempt(
        ledger, ada, "password", "--password-stdin", "--totp", code_at(secret, ledger),
        stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    wrong_password = attempt(
        ledger, ada, "password", "--password-stdin", "--totp", code_at(secret, ledger),
        stdin="not-her-password\n",
    )  # fmt: skip

    assert outcome(right) == {"outcome": "failed", "reason": "sso_required"}
    # The refusal says nothing about whether the password was right.
    assert (wrong_password.exit_code, wrong_password.stdout, wrong_password.stderr) == (
        right.exit_code,
        right.stdout,
        right.stderr,
    )
    assert ledger.event_count() == before + failed_sign_in_events(2, first_from_source=True)
    assert [without_timestamp(e) for e in history(ledger, ada)[:2]] == [failed("sso_required")] * 2

    # Nor can the password be changed to get around it; that refusal records nothing.
    before = ledger.event_count()
    result = run_json(
        ledger, "user", "set-password", ada, "--password-stdin", stdin="new-pass-99\n"
    )
    assert result.exit_code == 1
    assert error_code(result) == "password_managed_by_idp"
    assert ledger.event_count() == before
    # The way in is the identity provider.
    assert sso(ledger, ada)["outcome"] == "success"


# ---- (g) removing the last factor while the organisation requires MFA ----------------------------


def test_no_command_removes_the_last_factor_while_the_org_requires_mfa(
    ledger: Ledger, ada: str, store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.ok("user", "create", ADMIN, "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    secret, _, _ = enrol_totp(ledger, ada)
    enable_sms(ledger, ada)
    ledger.ok("org", "require-mfa", "acme", "on")
    assert enabled_factors(ledger, ada) == ["totp", "sms"]

    # A race: another process disables SMS after this one loaded the account with both factors.
    stale = store.account(ada)
    ledger.ok("mfa", "disable", ada, "sms")
    loads = iter([stale])
    fresh_account = store.account
    monkeypatch.setattr(store, "account", lambda email: next(loads, None) or fresh_account(email))
    services = Services(store=store, clock=FixedClock(ledger.now))
    before = ledger.event_count()
    with pytest.raises(MfaRequiredByOrg):  # the conflict is retried, and decided again
        disable_factor(services, DisableFactor(email=ada, factor="totp"))
    assert ledger.event_count() == before
    assert enabled_factors(ledger, ada) == ["totp"]

    # Every command that could take the authenticator away.
    refusals = [
        (("mfa", "disable", ada, "totp"), "mfa_required_by_org"),
        (("mfa", "disable", ada, "totp", "--actor", ADMIN), "mfa_required_by_org"),
        (("mfa", "totp", "enrol", ada), "factor_already_enabled"),  # re-enrol a new secret
    ]
    for command, code in refusals:
        before = ledger.event_count()
        ledger.later(seconds=1).refused(*command, code=code)
        assert ledger.event_count() == before, command
        assert enabled_factors(ledger, ada) == ["totp"], command
    ledger.ok("mfa", "recovery-codes", "regenerate", ada)
    assert enabled_factors(ledger, ada) == ["totp"]
    # Re-enrolling SMS to another number only starts a pending enrolment: not a factor, so
    # neither can it be disabled nor does it make the authenticator removable.
    ledger.ok("mfa", "sms", "enrol", ada, "--phone", OTHER_PHONE)
    ledger.refused("mfa", "disable", ada, "sms", code="factor_not_enabled")
    ledger.refused("mfa", "disable", ada, "totp", code="mfa_required_by_org")
    not_texted = wrong(newest_texted_code(ledger))
    for _ in range(5):  # wrong confirmation codes void the pending number; TOTP stays
        ledger.refused("mfa", "sms", "confirm", ada, not_texted, code="invalid_mfa_code")
    assert enabled_factors(ledger, ada) == ["totp"]

    # The original secret is still the one that works, and the factor still guards sign-in.
    assert sign_in(ledger.later(seconds=30), ada) == {"outcome": "failed", "reason": "mfa_required"}
    signed_in = sign_in(ledger, ada, PASSWORD, "--totp", code_at(secret, ledger))
    assert signed_in["outcome"] == "success"
    assert signed_in["factor"] == "totp"


# ---- (h) back-dating -----------------------------------------------------------------------------


def test_commands_back_dated_before_the_accounts_last_event_are_refused_and_append_nothing(
    ledger: Ledger, ada: str
) -> None:
    secret, _, codes = enrol_totp(ledger, ada)
    session = sign_in(ledger.later(seconds=30), ada, PASSWORD, "--totp", code_at(secret, ledger))
    other = sign_in(ledger, ada, PASSWORD, "--recovery-code", codes[9])
    ledger.at(T0 + timedelta(hours=1)).ok("user", "alerts", ada, "--security", "off")
    before = ledger.event_count()
    audit_before = ledger.ok("audit", ada)
    history_before = history(ledger, ada)
    back = ledger.at(T0 + timedelta(minutes=30))
    code_then = code_at(secret, back)  # a valid, unused code for that instant

    for password in (PASSWORD, "not-her-password"):  # a success and a failure alike
        signed_in = attempt(
            back, ada, "password", "--password-stdin", "--totp", code_then,
            stdin=f"{password}\n",
        )  # fmt: skip
        assert signed_in.exit_code == 1
        assert error_code(signed_in) == "clock_behind"
    for command in [
        ("mfa", "totp", "verify", ada, code_then),
        ("mfa", "recovery-codes", "use", ada, codes[0]),
        ("mfa", "recovery-codes", "regenerate", ada),
        ("mfa", "disable", ada, "totp"),
        ("sessions", "revoke", ada, session["session_id"]),
        ("sessions", "revoke-others", ada, "--keep", session["session_id"]),
        ("api-keys", "create", ada, "--name", "backdated"),
        ("workspace", "grant", ada, "finance", "--role", "admin"),
    ]:
        back.refused(*command, code="clock_behind")
    password_change = run_json(
        back, "user", "set-password", ada, "--password-stdin", stdin="rewritten-past-1\n"
    )
    assert error_code(password_change) == "clock_behind"

    assert ledger.event_count() == before
    ledger.at(T0 + timedelta(hours=1))
    assert ledger.ok("audit", ada) == audit_before
    assert history(ledger, ada) == history_before
    # Nothing was consumed or changed by the refused commands either.
    status = ledger.ok("mfa", "status", ada)
    assert status["totp"]["enabled"] is True
    assert status["recovery_codes"]["remaining"] == 9
    assert {s["session_id"] for s in ledger.ok("sessions", "list", ada)} == {
        session["session_id"],
        other["session_id"],
    }
    assert ledger.ok("api-keys", "list", ada) == []
    assert sign_in(ledger, ada, PASSWORD, "--recovery-code", codes[0])["outcome"] == "success"


def test_a_back_dated_session_check_cannot_revive_an_expired_session(
    ledger: Ledger, ada: str
) -> None:
    token = sign_in(ledger, ada)["session_token"]
    ledger.later(days=40).ok("user", "alerts", ada, "--security", "off")  # idle 40 days since
    token_refused(ledger, token, code="session_expired")
    before = ledger.event_count()

    exit_code, document = check_token(ledger.at(T0 + timedelta(minutes=1)), token)

    assert ledger.event_count() == before
    assert exit_code == 1, document
    assert document["error"]["code"] in ("clock_behind", "session_expired")


# ---- (i) brute force past the lockout ------------------------------------------------------------


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lockout needs a dozen password attempts; it does not depend on argon2's cost."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


def test_once_locked_out_even_the_right_password_or_api_key_is_refused_until_the_lock_expires(
    ledger: Ledger, cheap_password_hashing: None, ada: str
) -> None:
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    for _ in range(10):
        assert sign_in(ledger.later(seconds=1), ada, "guess-guess-guess") == {
            "outcome": "failed",
            "reason": "invalid_password",
        }
    tenth = ledger.now
    before = ledger.event_count()

    right = attempt(ledger.later(seconds=1), ada, "password", "--password-stdin", stdin=PASSWORD)
    guess = attempt(ledger, ada, "password", "--password-stdin", stdin="guess-guess-guess")

    assert outcome(right) == LOCKED
    # While locked, the answer says nothing about whether the password was right.
    assert (guess.exit_code, guess.stdout, guess.stderr) == (
        right.exit_code,
        right.stdout,
        right.stderr,
    )
    assert with_key(ledger, ada, key) == LOCKED
    assert sign_in(ledger.at(tenth + timedelta(minutes=14, seconds=59)), ada) == LOCKED
    # Every attempt while locked is recorded (and counted at its source), shown in the history.
    assert ledger.event_count() == before + failed_sign_in_events(4)
    entries = [without_timestamp(e) for e in history(ledger, ada)[:5]]
    assert entries[:4] == [
        failed("locked_out"),
        failed("locked_out", method="api_key"),
        failed("locked_out"),
        failed("locked_out"),
    ]
    assert entries[4] == failed("invalid_password")

    # Attempts while locked neither extend the lock nor count: at 15 minutes it is over.
    signed_in = sign_in(ledger.at(tenth + timedelta(minutes=15)), ada)
    assert signed_in["outcome"] == "success"


# ---- (j) reading a secret, a code or a phone number ----------------------------------------------


@dataclass
class Kept:
    """Everything secret the user was shown or typed, kept to look for afterwards."""

    totp_secret: str = ""
    totp_codes: list[str] = field(default_factory=list)
    sms_codes: list[str] = field(default_factory=list)
    recovery_codes: list[str] = field(default_factory=list)
    session_tokens: list[str] = field(default_factory=list)
    api_keys: list[str] = field(default_factory=list)
    password: str = "Tr0ub4dor&3-horse"

    def secrets(self) -> dict[str, str]:
        """Secrets, codes and the phone number: in no table, no output and no error."""
        found = {
            "TOTP secret": self.totp_secret,
            "password": self.password,
            "phone number": PHONE,
            "phone number without its country code": PHONE.removeprefix("+1"),
        }
        for kind, values in [
            ("TOTP code", self.totp_codes),
            ("SMS code", self.sms_codes),
            ("recovery code", self.recovery_codes),
        ]:
            for number, value in enumerate(values, 1):
                found[f"{kind} #{number}"] = value
        for number, code in enumerate(self.recovery_codes, 1):
            found[f"recovery code #{number} without dashes"] = code.replace("-", "")
        for kind, values in [("session token", self.session_tokens), ("API key", self.api_keys)]:
            for number, value in enumerate(values, 1):
                found[f"{kind} #{number}"] = value
                found[f"{kind} #{number}, its secret part"] = value.rsplit(".", 1)[-1]
        return found

    def hashes(self, store: LedgerStore) -> dict[str, str]:
        """What the ledger keeps instead: stored, but never shown."""
        account = store.account(ADA)
        found = {"password hash": "$argon2"}
        for kind, values in [("session token", self.session_tokens), ("API key", self.api_keys)]:
            for number, value in enumerate(values, 1):
                found[f"{kind} #{number} hash"] = credentials.digest(value)
        assert account.recovery_salt is not None
        found["recovery code salt"] = account.recovery_salt
        for number, stored in enumerate(account.recovery_hashes, 1):
            found[f"recovery code hash #{number}"] = stored
        return found


def occurs(needle: str, haystack: bytes) -> bool:
    """Case-insensitively; a six-digit code only as a whole run (not inside a longer one)."""
    if SIX_DIGITS.fullmatch(needle):
        whole = rb"(?<![0-9A-Za-z])" + needle.encode() + rb"(?![0-9A-Za-z])"
        return re.search(whole, haystack) is not None
    return needle.lower().encode() in haystack.lower()


def leaks(needles: dict[str, str], texts: dict[str, bytes]) -> list[str]:
    return [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, needle in needles.items()
        if occurs(needle, text)
    ]


def every_table(store: LedgerStore) -> dict[str, bytes]:
    """Every row of every table in the store, each column as bytes."""
    with store.database.transaction() as tx:
        if store.database.postgres:
            names = tx.fetchall(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        else:
            names = tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {}
        for (name,) in names:
            rows = tx.fetchall(f'SELECT * FROM "{name}"')
            tables[str(name)] = b"\n".join(
                b"\x00".join(as_bytes(value) for value in row) for row in rows
            )
    return tables


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


class Transcript:
    """Runs refused commands as the attacker would, and keeps everything they printed."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.printed: dict[str, bytes] = {}
        self.presented: dict[str, list[str]] = {}

    def refused(
        self, *args: str, stdin: str | None = None, exit_code: int = 1, presented: str = ""
    ) -> Result:
        """Run a command that must be refused; `presented` (and stdin) is the secret or code
        given, which the answer must not echo."""
        result = self.ledger.run(*args, "--json", stdin=stdin)
        assert result.exit_code == exit_code, (args[:3], result.output)
        where = f"the answer to refusal #{len(self.printed) + 1} ({' '.join(args[:3])} ...)"
        self.printed[where] = (result.stdout + result.stderr).encode()
        self.presented[where] = [s for s in (presented, (stdin or "").strip()) if s]
        return result

    def echoes(self) -> list[str]:
        """Answers that repeat what was presented to them."""
        return [
            f"{where} echoes {given!r}"
            for where, values in self.presented.items()
            for given in values
            if occurs(given, self.printed[where])
        ]

    def sign_in(self, option: str, code: str, password: str) -> dict[str, Any]:
        result = self.refused(
            "login", ADA, "--method", "password", "--ip", IP, "--user-agent", BROWSER,
            "--password-stdin", option, code, stdin=password + "\n", presented=code,
        )  # fmt: skip
        return outcome(result)


def live_through_every_secret(ledger: Ledger, store: LedgerStore, attacker: Transcript) -> Kept:
    """Ada enrols and uses every factor, key and session; an attacker fails at each one."""
    kept = Kept()
    ledger.ok("org", "create", "acme")
    create_user(ledger, ADA, kept.password)

    kept.totp_secret, confirming, codes = enrol_totp(ledger, ADA)
    kept.totp_codes.append(confirming)
    kept.recovery_codes += codes
    kept.sms_codes.append(enable_sms(ledger.later(minutes=1), ADA))

    def signs_in(*extra: str) -> None:
        signed_in = sign_in(ledger, ADA, kept.password, *extra)
        assert signed_in["outcome"] == "success", signed_in
        kept.session_tokens.append(signed_in["session_token"])

    ledger.ok("mfa", "sms", "send-code", ADA)
    kept.sms_codes.append(newest_texted_code(ledger))
    signs_in("--sms", kept.sms_codes[-1])
    kept.totp_codes.append(code_at(kept.totp_secret, ledger.later(seconds=30)))
    signs_in("--totp", kept.totp_codes[-1])
    signs_in("--recovery-code", kept.recovery_codes[0])
    kept.api_keys.append(ledger.ok("api-keys", "create", ADA, "--name", "ci")["key"])
    signed_in = with_key(ledger, ADA, kept.api_keys[-1])
    kept.session_tokens.append(signed_in["session_token"])
    kept.recovery_codes += ledger.ok("mfa", "recovery-codes", "regenerate", ADA)["recovery_codes"]
    ledger.ok("mfa", "recovery-codes", "use", ADA, kept.recovery_codes[-1])
    ledger.ok("sessions", "revoke", ADA, kept.session_tokens[0].split(".")[2])

    # The attacker, with the real codes (replayed or spent) and near misses.
    used_totp, used_sms = kept.totp_codes[-1], kept.sms_codes[-1]
    assert attacker.sign_in("--totp", used_totp, kept.password) == REUSED
    attacker.sign_in("--totp", wrong(used_totp), kept.password)
    attacker.sign_in("--sms", used_sms, kept.password)
    attacker.sign_in("--recovery-code", kept.recovery_codes[0], kept.password)
    attacker.sign_in("--recovery-code", kept.recovery_codes[1], kept.password[:-1])
    attacker.refused("mfa", "totp", "verify", ADA, used_totp, presented=used_totp)
    # Ada signs in meanwhile, which ends the run of failures before it could lock her out.
    kept.totp_codes.append(code_at(kept.totp_secret, ledger.later(seconds=30)))
    signs_in("--totp", kept.totp_codes[-1])
    attacker.refused("mfa", "totp", "verify", ADA, wrong(used_totp), presented=wrong(used_totp))
    attacker.refused("mfa", "totp", "confirm", ADA, used_totp, presented=used_totp)
    attacker.refused("mfa", "totp", "enrol", ADA)
    attacker.refused("mfa", "sms", "verify", ADA, used_sms, presented=used_sms)
    attacker.refused("mfa", "sms", "enrol", ADA, "--phone", PHONE, presented=PHONE)
    attacker.refused("mfa", "sms", "confirm", ADA, kept.sms_codes[0], presented=kept.sms_codes[0])
    for spent in (kept.recovery_codes[0], kept.recovery_codes[-1]):  # voided, spent
        attacker.refused("mfa", "recovery-codes", "use", ADA, spent, presented=spent)
    attacker.refused("sessions", "check", "--token-stdin", stdin=kept.session_tokens[0])
    prefix = kept.session_tokens[1].rsplit(".", 1)[0]
    attacker.refused("sessions", "check", "--token-stdin", stdin=f"{prefix}.not-the-secret")
    attacker.refused(
        "login", ADA, "--method", "api-key", "--ip", IP, "--user-agent", BROWSER,
        "--api-key-stdin", stdin=kept.api_keys[0][:-2] + "xx",
    )  # fmt: skip
    attacker.refused("user", "create", ADA, "--org", "acme", "--password-stdin", stdin="x" * 9)
    # Malformed input (exit 2) built from real secrets is not echoed back either.
    truncated = kept.recovery_codes[12][:-1]
    attacker.refused(
        "mfa", "recovery-codes", "use", ADA, truncated, exit_code=2, presented=truncated
    )
    attacker.refused(
        "user", "set-password", ADA, "--password-stdin", stdin=kept.password[:6], exit_code=2
    )

    # Long histories are snapshotted: take one now so that the snapshot table is searched too.
    store.app.take_snapshot(store.account_id(ADA))
    return kept


READ_COMMANDS: list[tuple[str, ...]] = [
    ("mfa", "status", ADA),
    ("timeline", ADA, "--on", "2026-11-14"),
    ("state", ADA, "--as-of", format_instant(T0 + timedelta(hours=1))),
    ("audit", ADA),
    ("history", ADA),
    ("sessions", "list", ADA),
    ("api-keys", "list", ADA),
    ("alerts", ADA),
    ("info",),
    ("projections", "status"),
]


def test_no_secret_code_or_phone_number_can_be_read_from_the_store_any_output_or_any_error(
    ledger: Ledger, store: LedgerStore, tmp_path: Path
) -> None:
    attacker = Transcript(ledger)
    kept = live_through_every_secret(ledger, store, attacker)
    ledger.later(minutes=5)
    needles = kept.secrets()
    # The TOTP secret, the password, the phone number (two ways), 3 TOTP codes, 2 SMS codes,
    # 20 recovery codes (two ways), 5 session tokens and 1 API key (whole, and secret part).
    assert len(needles) == 1 + 1 + 2 + 3 + 2 + 2 * 20 + 2 * 5 + 2 * 1

    # 1. The raw store: every table but the development SMS outbox, whose texts are kept in
    #    clear by design (README, Secrets); it must hold the texts and nothing else secret.
    ledger.ok("projections", "run")  # on PostgreSQL the read models are filled by a worker
    tables = every_table(store)
    assert {"ledger_chain", "ledger_checkpoints", "ledger_data_keys", "rm_active_sessions"} <= set(
        tables
    )
    assert tables["sms_outbox"], "no text was kept: the search below would prove nothing"
    outbox = tables.pop("sms_outbox")
    assert sorted(leaks(needles, {"the outbox": outbox})) == sorted(
        [
            "phone number in the outbox",
            "phone number without its country code in the outbox",
            *(f"SMS code #{n} in the outbox" for n in (1, 2)),
        ]
    )
    assert leaks(needles, tables) == []
    # The search does see what is in clear: session ids and a masked phone in read models.
    session_id = kept.session_tokens[1].split(".")[2]
    assert leaks({"session id": session_id}, tables) != []
    assert leaks({"masked phone": "0123"}, {"rm_mfa_state": tables["rm_mfa_state"]}) != []

    # 2. What every read command prints (JSON and text), and both export formats.
    printed: dict[str, bytes] = {}
    for command in READ_COMMANDS:
        as_json = ledger.run(*command, "--json")
        as_text = ledger.run(*command)
        assert as_json.exit_code == as_text.exit_code == 0, (command, as_json.output)
        printed[" ".join(command) + " --json"] = as_json.stdout.encode()
        printed[" ".join(command)] = as_text.stdout.encode()
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"ada.{fmt}"
        ledger.ok("export", "--user", ADA, "--format", fmt, "--out", str(out))
        printed[f"the {fmt} export"] = out.read_bytes()
        printed[f"the {fmt} export's manifest"] = Path(f"{out}.manifest.json").read_bytes()
    assert "+1•••••0123".encode() in printed[f"mfa status {ADA} --json"]
    assert session_id.encode() in printed[f"sessions list {ADA} --json"]
    assert leaks(needles | kept.hashes(store), printed) == []

    # 3. What every refusal printed, on stdout and stderr.
    assert len(attacker.printed) >= 20
    assert leaks(needles | kept.hashes(store), attacker.printed) == []
    assert attacker.echoes() == []


# ---- sessions of their own (issue 12): a leaked API key, someone else's session ----------------


def test_every_session_a_leaked_api_key_opened_ends_when_the_key_is_revoked(
    ledger: Ledger, ada: str
) -> None:
    """The thief signed in with the key and kept the session tokens; revoking the key ends
    them, in a fresh process too, and the refused checks record nothing."""
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")
    stolen = [with_key(ledger.later(minutes=1), ada, key["key"])["session_token"] for _ in range(3)]
    laptop = sign_in(ledger, ada)["session_token"]

    ledger.later(minutes=1).ok("api-keys", "revoke", ada, key["key_id"])
    before = ledger.event_count()

    for token in stolen:
        token_refused(ledger, token)
        token_refused(Ledger(ledger.url).at(ledger.now), token)
    assert ledger.event_count() == before
    assert token_accepted(ledger.later(minutes=10), laptop)["active"] is True
    assert with_key(ledger, ada, key["key"])["reason"] == "invalid_api_key"


def test_no_session_can_be_reached_through_another_account(ledger: Ledger, ada: str) -> None:
    """A session is named by its account and id together: bob can neither sign out ada's
    session through his own account, nor pass her token off as his."""
    bob = create_user(ledger, "bob@acme.test")
    token = sign_in(ledger, ada)["session_token"]
    bobs = sign_in(ledger, bob)["session_token"]
    _, account, session_id, secret = token.split(".")
    before = ledger.event_count()

    ledger.later(minutes=10).refused("sessions", "revoke", bob, session_id, code="unknown_session")
    bob_account = bobs.split(".")[1]
    token_refused(ledger, f"fls.{bob_account}.{session_id}.{secret}")
    token_refused(ledger, f"fls.{account}.{bobs.split('.')[2]}.{secret}")

    assert ledger.event_count() == before
    assert token_accepted(ledger, token)["email"] == ada


# ---- issue 13: evidence that cannot be bent (snapshots, anchors, a pinned key) -----------------


def decoded_snapshot(store: LedgerStore, row: SnapshotRow, body: bytes) -> Any:
    """What the aggregate would be, were the snapshot stored as `body` trusted."""
    stored = StoredEvent(UUID(str(row.raw_originator_id)), row.version, row.topic, body)
    return store.app.mapper.to_domain_event(stored).mutate(None)


def with_a_key_of_our_own(row: SnapshotRow, key: credentials.IssuedSecret) -> bytes:
    """The snapshot's JSON (out of its envelope: the format is public) with one more API key: a
    copy of the account's own key entry, under the id and hash of a key the attacker holds."""
    assert row.state.startswith(AUTHENTICATED)
    document = json.loads(row.state[len(AUTHENTICATED) + MAC_SIZE :])
    api_keys = document["state"]["api_keys"]
    api_keys[key.public_id] = {**next(iter(api_keys.values())), "key_hash": key.secret_hash}
    return json.dumps(document).encode()


def test_a_snapshot_forged_in_the_database_changes_no_decision_and_verify_names_it(
    ledger: Ledger, ada: str, store: LedgerStore
) -> None:
    """Issue 13's attack: an API key of the attacker's own, added to the account's snapshot,
    signed in, while `verify --store` said intact."""
    ledger.ok("api-keys", "create", ada, "--name", "ci")
    account = store.account_id(ada)
    store.app.take_snapshot(account)  # as the ledger does every 100 events
    attacker = Attacker(store)
    [snapshot] = attacker.snapshots(account)
    held = credentials.issue_api_key()
    forged = with_a_key_of_our_own(snapshot, held)
    # The forgery is well made: trusted, it would be an account that knows the attacker's key.
    backdoor = decoded_snapshot(store, snapshot, forged).api_keys[held.public_id]
    assert (backdoor["key_hash"], backdoor["revoked"]) == (held.secret_hash, False)
    if store.database.postgres:  # a snapshot may be deleted (it is a cache), never rewritten
        with (
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
            store.database.transaction() as tx,
        ):
            tx.execute(f"UPDATE {store.snapshot_table} SET state = ?", (forged,))

    stale_mac = snapshot.state[: len(AUTHENTICATED) + MAC_SIZE]
    for written in (forged, stale_mac + forged):  # as old snapshots were; with the old MAC
        attacker.put_snapshot(replace(snapshot, state=written))

        refused = with_key(ledger.later(minutes=1), ada, held.secret)

        assert refused["reason"] == "invalid_api_key"
        message = ledger.refused("verify", "--store", code="tampered")["error"]["message"]
        assert message.startswith(f"snapshot (stream {account} version {snapshot.version}): ")
        assert "not authenticated by the ledger's key" in message
    assert [h["reason"] for h in history(ledger, ada)[:2]] == ["invalid_api_key"] * 2


def test_a_snapshot_audit_cannot_be_stood_in_for_from_the_working_directory(
    ledger: Ledger, ada: str, store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An auditor runs verify in a folder someone else filled (an export received, say) that
    holds a `ledger` package whose snapshot audit finds nothing. On a long log the audit runs
    in a process of its own: that process must run this ledger's code, not the folder's."""
    from ledger.integrity import verify_store

    ledger.ok("api-keys", "create", ada, "--name", "ci")
    account = store.account_id(ada)
    store.app.take_snapshot(account)
    attacker = Attacker(store)
    [snapshot] = attacker.snapshots(account)
    attacker.put_snapshot(
        replace(snapshot, state=with_a_key_of_our_own(snapshot, credentials.issue_api_key()))
    )
    planted = tmp_path / "received" / "ledger"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "snapshot_audit.py").write_text("print('null')\n")  # "no problem found"
    monkeypatch.chdir(planted.parent)

    finding = verify_store(store, audit_apart=True).finding

    assert finding is not None
    assert finding.describe().startswith(f"snapshot (stream {account} version {snapshot.version})")
    assert "not authenticated by the ledger's key" in finding.detail


def another_address_of(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same store by an address spelled otherwise: a relative path, another host name."""
    location = StoreLocation.parse(url)
    if location.sqlite_path is not None:
        monkeypatch.chdir(location.sqlite_path.parent)
        return f"sqlite:///./{location.sqlite_path.name}"
    host = location.pg_host
    host = f"{host}/" if host.startswith("/") else {"localhost": "127.0.0.1"}.get(host, "localhost")
    return (
        f"postgresql://{location.pg_user}@/{location.pg_dbname}?host={host}&port={location.pg_port}"
    )


def rewrite_adas_first_grant(store: LedgerStore, ada: str, role: bytes) -> Attacker:
    """The strong attacker: ada's first workspace role raised to owner, every later link of her
    stream recomputed, and every signed checkpoint deleted."""
    attacker = Attacker(store)
    granted = attacker.event(store.account_id(ada), "WorkspaceMembershipGranted")
    attacker.set_state(granted, granted.state.replace(role, b'"owner"'))
    attacker.relink_stream_from(granted)
    with attacker.writing() as tx:
        tx.execute("DELETE FROM ledger_checkpoints")
    return attacker


def test_the_anchor_is_found_by_the_stores_identity_whatever_address_opens_it(
    ledger: Ledger, ada: str, store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13's attack: the anchor was named after the address as typed, so the same store
    opened by a relative path (another host name) found no anchor, and passed."""
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    checkpoint = ledger.later(minutes=1).ok("checkpoint")["notification_id"]
    ledger.later(minutes=1).ok("workspace", "grant", ada, "billing", "--role", "viewer")
    rewrite_adas_first_grant(store, ada, b'"viewer"')
    # A checkpoint signed over the rewritten log does not replace the anchor: its log does not
    # pass through the anchored one.
    ledger.later(minutes=1).ok("checkpoint")

    other = another_address_of(ledger.url, monkeypatch)
    assert StoreLocation.parse(other).description != StoreLocation.parse(ledger.url).description
    refused = Ledger(other).at(ledger.now).refused("verify", "--store", code="tampered")

    assert refused["error"]["message"].startswith(f"checkpoint at event {checkpoint} ")


def test_a_signing_key_held_in_the_environment_keeps_its_anchor_away_from_the_database(
    ledger: Ledger, ada: str, store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13's attack: with FLERO_LEDGER_SIGNING_KEY set, the anchor still went beside the
    SQLite database, so whoever rewrote the database could delete it along with the
    checkpoints. It goes to the store's own directory in the user's data directory now."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    monkeypatch.setenv("FLERO_LEDGER_SIGNING_KEY", base64.b64encode(seed).decode())
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    checkpoint = ledger.later(minutes=1).ok("checkpoint")["notification_id"]
    anchor = Path(ledger.ok("info")["keys"]["anchor_file"])
    assert anchor.is_file()
    assert anchor.parent.name == ledger.ok("info")["store_id"]
    database = store.location.sqlite_path
    if database is not None:
        assert anchor.parent != database.parent
        # The attacker rewrites the log, deletes the checkpoints, and every file beside the
        # database but the database (its own -wal and -shm kept).
        rewrite_adas_first_grant(store, ada, b'"viewer"')
        for beside in database.parent.iterdir():
            if beside.is_file() and not beside.name.startswith(database.name):
                beside.unlink()
    else:
        rewrite_adas_first_grant(store, ada, b'"viewer"')

    refused = ledger.refused("verify", "--store", code="tampered")

    assert refused["error"]["message"].startswith(f"checkpoint at event {checkpoint} ")


def test_the_anchor_goes_where_flero_ledger_anchor_dir_says_and_an_old_one_moves_there(
    ledger: Ledger, ada: str, store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the operator keeps it (another disk, a mount only the ledger's user writes); an
    anchor from before, where the signing key's file is, moves there and still holds."""
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    checkpoint = ledger.later(minutes=1).ok("checkpoint")["notification_id"]
    before = Path(ledger.ok("info")["keys"]["anchor_file"])
    assert before.is_file()
    chosen = tmp_path / "anchors"
    chosen.mkdir(mode=0o700)
    monkeypatch.setenv("FLERO_LEDGER_ANCHOR_DIR", str(chosen))

    assert ledger.ok("verify", "--store")["ok"] is True
    info = ledger.ok("info")
    assert Path(info["keys"]["anchor_file"]) == chosen / before.name
    assert (chosen / before.name).is_file() and not before.exists()

    rewrite_adas_first_grant(store, ada, b'"viewer"')
    refused = ledger.refused("verify", "--store", code="tampered")
    assert refused["error"]["message"].startswith(f"checkpoint at event {checkpoint} ")


def test_a_ledger_past_the_checkpoint_interval_without_a_single_checkpoint_is_tampered(
    ledger: Ledger, ada: str, store: LedgerStore, services: Services
) -> None:
    """Issue 13's attack: a history rewritten, every checkpoint deleted, and the anchor not
    found (here the attacker gave the store another identity): zero checkpoints said intact."""
    for number in range(CHECKPOINT_EVERY):
        grant_workspace(services, GrantWorkspace(email=ada, workspace=f"w{number}", role="member"))
    ledger.ok("projections", "run")  # the read models catch up, and a checkpoint is signed
    assert Attacker(store).checkpoints()

    before, another = store.key_places, str(uuid4())

    rewrite_adas_first_grant(store, ada, b'"member"').set_store_id(another)

    if store.location.kind == "postgresql":
        # Its keys are found by its identity too: none where the new one points, so refused...
        lost = ledger.refused("verify", "--store", code="key_unavailable")
        moved = before.master_key.parent.with_name(another)
        assert lost["error"]["message"].startswith(f"{moved / 'master.key'} is missing")
        # ...until they are restored there, as the message asks.
        moved.mkdir()
        for key in (before.master_key, before.signing_key):
            shutil.copy2(key, moved / key.name)
    refused = ledger.refused("verify", "--store", code="tampered")
    assert refused["error"]["message"].startswith(
        f"checkpoint: the read models have read past {CHECKPOINT_EVERY} events"
    )


@pytest.mark.parametrize(
    "damage", ["garbage", "cut short", "not a checkpoint", "a directory instead", "removed"]
)
def test_a_damaged_or_missing_anchor_is_a_finding_never_a_traceback(
    ledger: Ledger, ada: str, store: LedgerStore, damage: str
) -> None:
    """Issue 13's attack: a damaged anchor made `verify --store` crash with a traceback."""
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    ledger.later(minutes=1).ok("checkpoint")
    anchor = store.checkpoint_anchor.path
    kept = anchor.read_text()
    anchor.unlink()
    if damage == "garbage":
        anchor.write_bytes(secrets.token_bytes(40))
    elif damage == "cut short":
        anchor.write_text(kept[: len(kept) // 2])
    elif damage == "not a checkpoint":
        anchor.write_text('["notification_id", 2]')
    elif damage == "a directory instead":
        anchor.mkdir()

    human = ledger.run("verify", "--store")
    refused = ledger.refused("verify", "--store", code="tampered")

    assert human.exit_code == 1
    assert "Traceback" not in human.output + human.stderr
    assert refused["error"]["message"].startswith("anchor: ")
    assert str(anchor) in refused["error"]["message"]
    # The ledger carries on; a damaged anchor is left as it is, for its owner to look at.
    ledger.later(minutes=1).ok("workspace", "grant", ada, "ops", "--role", "viewer")
    ledger.ok("checkpoint")
    if damage != "removed":
        ledger.refused("verify", "--store", code="tampered")


def test_verify_takes_an_empty_or_malformed_public_key_as_bad_input_never_the_manifests_own(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """Issue 13's attack: `verify PATH --public-key "$(...)"` whose inner command printed
    nothing trusted the key a forged manifest names, and said `key_pinned: true`."""
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    path = tmp_path / "ada.jsonl"
    ledger.later(minutes=1).ok("export", "--user", ada, "--format", "jsonl", "--out", str(path))
    ledgers_key = ledger.ok("info")["signing_public_key"]
    forger = Ed25519PrivateKey.generate()
    forge_without_last_record(Export(path, "jsonl"), forger, embed=public_key_of(forger))

    short = base64.b64encode(bytes(31)).decode()
    for malformed in ("", " ", "not base64!", ledgers_key[:-4], short):
        result = run_json(ledger, "verify", str(path), "--public-key", malformed)
        assert (result.exit_code, error_code(result)) == (2, "invalid_input"), malformed
        assert "key_pinned" not in result.stdout
    refused = ledger.refused("verify", str(path), "--public-key", ledgers_key, code="tampered")
    assert "signature does not verify" in refused["error"]["message"]
    missing = run_json(ledger, "verify", str(tmp_path / "gone.jsonl"), "--public-key", ledgers_key)
    assert (missing.exit_code, error_code(missing)) == (2, "not_found")


# ---- beyond the list: an insider with write access to the database ------------------------------


def test_an_event_moved_or_refiled_in_the_time_index_changes_no_answer_unnoticed(
    ledger: Ledger, ada: str, store: LedgerStore
) -> None:
    """Issue 14's attack: the time index (`recorded_at`, `subject_id`) is covered by no hash.
    Ada's new admin role moved a day later left `state --as-of` and the day's timeline, and her
    session filed under nobody left them too, while `verify --store` said intact."""
    session = sign_in(ledger.later(minutes=1), ada)["session_id"]
    ledger.later(minutes=1).ok("workspace", "grant", ada, "billing", "--role", "admin")
    asked_at = format_instant(ledger.now)

    def answers() -> tuple[dict[str, str], list[str], list[str]]:
        """Her roles and sessions as of now, and the names of the day's events."""
        state = ledger.ok("state", ada, "--as-of", asked_at)
        timeline = ledger.ok("timeline", ada, "--on", asked_at[:10])
        return (
            {w["workspace"]: w["role"] for w in state["workspaces"]},
            [s["session_id"] for s in state["sessions"]],
            [e["event"] for e in timeline],
        )

    roles, sessions, events = answers()
    assert (roles, sessions) == ({"billing": "admin"}, [session])
    assert {"SessionOpened", "WorkspaceMembershipGranted"} <= set(events)
    attacker = Attacker(store)
    account = store.account_id(ada)
    granted = attacker.event(account, "WorkspaceMembershipGranted")

    was, _ = attacker.move_in_time(granted, timedelta(days=1))

    roles, _, moved_events = answers()
    assert roles == {} and "WorkspaceMembershipGranted" not in moved_events  # hidden...
    message = ledger.refused("verify", "--store", code="tampered")["error"]["message"]
    assert message.startswith(f"misindexed {granted.named}: "), message  # ...but not from verify
    attacker.set_time_index(granted, was, None)
    assert ledger.ok("verify", "--store")["ok"] is True

    opened, *rest = attacker.filed_under(account)
    for row in (opened, *rest):
        attacker.set_time_index(row, attacker.time_index(row)[0], None)

    _, sessions, refiled_events = answers()
    assert sessions == [] and "SessionOpened" not in refiled_events
    message = ledger.refused("verify", "--store", code="tampered")["error"]["message"]
    assert message.startswith(f"misindexed {opened.named}: "), message


def test_a_rewritten_history_is_found_even_when_the_signed_checkpoints_are_deleted(
    ledger: Ledger, ada: str, store: LedgerStore
) -> None:
    ledger.ok("workspace", "grant", ada, "design", "--role", "viewer")
    ledger.later(minutes=1).ok("checkpoint")
    ledger.later(minutes=1).ok("workspace", "grant", ada, "billing", "--role", "viewer")
    assert ledger.ok("verify", "--store")["ok"] is True
    attacker = Attacker(store)
    granted = attacker.event(store.account_id(ada), "WorkspaceMembershipGranted", b'"design"')
    attacker.set_state(granted, granted.state.replace(b'"viewer"', b'"owner"'))
    attacker.relink_stream_from(granted)
    # Every link agrees with the rewritten rows: only the signed checkpoint tells...
    ledger.refused("verify", "--store", code="tampered")

    with attacker.writing() as tx:  # ...so the attacker removes it too
        tx.execute("DELETE FROM ledger_checkpoints")

    ledger.refused("verify", "--store", code="tampered")


def test_an_sso_session_without_a_verified_id_token_exists_on_no_surface(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """Issue 11's attack: `curl /api/login -d '{"method":"sso","idp_mfa":true}'` opened a
    session as any member of an SSO organisation. Every way of asking for one without a token
    the organisation's provider signed is refused, and no session exists afterwards."""
    from fastapi.testclient import TestClient

    from ledger.store_location import StoreLocation
    from tests.identity_provider import SigningIdp, unsigned_token
    from web.app import create_app

    idp = SigningIdp()
    ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer, "--client-id"),
        *(idp.client_id, "--jwks-file", str(idp.jwks_file(tmp_path)), "--mfa", "idp"),
    )
    # Over HTTP, with any combination of fields.
    clock = FixedClock(ledger.now)
    with TestClient(create_app(StoreLocation.parse(ledger.url), clock)) as client:
        for extra in ({}, {"idp_mfa": True}, {"idp_mfa": True, "totp": "123456"}):
            body = {"email": ada, "method": "sso", **extra}
            assert client.post("/api/login", json=body).status_code == 422
        callback = client.get("/signin/sso/callback?code=x&state=y", follow_redirects=False)
        assert callback.status_code == 400
    # On the command line: no token, the old flag, a token nobody signed, one signed by
    # another key, one for another audience.
    sign_in_sso = ("login", ada, "--method", "sso", "--ip", IP, "--user-agent", BROWSER)
    ledger.bad_input(*sign_in_sso)
    ledger.bad_input(*sign_in_sso, "--idp-mfa")
    claims = idp.claims(ledger.now, ada)
    for token in (
        unsigned_token(claims, {"alg": "none"}),
        SigningIdp().token(ledger.now, ada),
        idp.token(ledger.now, ada, aud="another-app"),
    ):
        result = ledger.run(*sign_in_sso, "--id-token-stdin", "--json", stdin=token + "\n")
        assert result.exit_code == 1, result.output
        assert json.loads(result.stdout)["reason"] == "invalid_id_token"
    assert ledger.ok("sessions", "list", ada) == []
    refusals = [h["reason"] for h in history(ledger, ada)]
    assert refusals == ["invalid_id_token"] * 3


def test_two_first_sso_sign_ins_at_once_both_succeed_and_bind_the_subject_once(
    ledger: Ledger, ada: str, store: LedgerStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A race (seen in CI's load test): another process's first SSO sign-in binds ada's IdP
    subject after this one found it unbound. This one re-runs on the binding (a conflict)
    instead of answering `refused` with nothing recorded."""
    from commands import login
    from commands.login import Login, log_in
    from ledger.sso_identity import SsoIdentity
    from tests.identity_provider import SigningIdp

    idp = SigningIdp()
    ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer, "--client-id"),
        *(idp.client_id, "--jwks-file", str(idp.jwks_file(tmp_path)), "--mfa", "idp"),
    )
    sign_in_sso = ("login", ada, "--method", "sso", "--ip", IP, "--user-agent", BROWSER)
    found_unbound = login.sso_identity_of

    def while_another_signs_in(services: Services, issuer: str, subject: str) -> SsoIdentity | None:
        monkeypatch.setattr(login, "sso_identity_of", found_unbound)
        bound = found_unbound(services, issuer, subject)
        token = idp.token(ledger.now, ada, jti="the other") + "\n"
        assert ledger.ok(*sign_in_sso, "--id-token-stdin", stdin=token)["outcome"] == "success"
        return bound

    monkeypatch.setattr(login, "sso_identity_of", while_another_signs_in)
    services = Services(store=store, clock=FixedClock(ledger.now))
    token = idp.token(ledger.now, ada)

    signed_in = log_in(
        services, Login(email=ada, method="sso", ip=IP, user_agent=BROWSER, id_token=token)
    )

    assert signed_in.factor == "idp"
    assert [(h["method"], h["outcome"]) for h in history(ledger, ada)] == [("sso", "success")] * 2
    assert len(ledger.ok("sessions", "list", ada)) == 2
    binding = login.sso_identity_of(services, idp.issuer, f"sub-{ada}")
    assert binding is not None
    assert (binding.account_id, binding.version) == (store.account_id(ada), 1)  # bound once


# ---- issue 13: what erasure leaves, who may read the files, what a spreadsheet runs ----------


BOB = "bob@acme.test"
BOBS_PHONE = "+14155550177"
BOBS_IP = "198.51.100.23"
HER_IPV6 = "2001:db8::5"
BY_THE_ADMIN = ("--actor", ADMIN, "--ip", "203.0.113.77")
HER_PERSONAL_DATA = {
    "e-mail address": ADA,
    "first phone number": PHONE,
    "first phone number's digits": PHONE.removeprefix("+1"),
    "second phone number": OTHER_PHONE,
    "second phone number's digits": OTHER_PHONE.removeprefix("+1"),
    "IPv4 address": IP,
    "IPv6 address": HER_IPV6,
    "IPv6 address, exploded": "2001:0db8:0000:0000:0000:0000:0000:0005",
    "location": "Gamlingay",
}
BOBS_PERSONAL_DATA = {"e-mail address": BOB, "IP address": BOBS_IP}


def her_life_and_bobs(ledger: Ledger, ada: str) -> str:
    """Ada signs in from two addresses and with an API key, enrols a phone, is texted on it,
    drops it and starts enrolling another; Bob, her colleague, enrols his own. The API key."""
    create_user(ledger, ADMIN)
    ledger.ok("org", "admin", "add", "acme", ADMIN)
    assert sign_in(ledger, ada)["outcome"] == "success"
    from_ipv6 = attempt(ledger, ada, "password", "--password-stdin", stdin=PASSWORD, ip=HER_IPV6)
    assert outcome(from_ipv6)["outcome"] == "success"
    key = str(ledger.ok("api-keys", "create", ada, "--name", "ci")["key"])
    assert with_key(ledger, ada, key)["outcome"] == "success"
    enable_sms(ledger, ada, PHONE)
    ledger.ok("mfa", "sms", "send-code", ada)
    ledger.ok("mfa", "disable", ada, "sms")
    ledger.ok("mfa", "sms", "enrol", ada, "--phone", OTHER_PHONE)
    bob = ("--ip", BOBS_IP, "--user-agent", "BobsBrowser/1.0")
    ledger.ok("user", "create", BOB, "--org", "acme", "--password-stdin", *bob, stdin=PASSWORD)
    ledger.ok("mfa", "sms", "enrol", BOB, "--phone", BOBS_PHONE, *bob)
    result = ledger.run(
        "login", BOB, "--method", "password", "--password-stdin", *bob, "--json", stdin=PASSWORD
    )
    assert outcome(result)["outcome"] == "success"
    return key


def erase(ledger: Ledger, email: str) -> None:
    assert ledger.later(days=1).ok("erase", email, *BY_THE_ADMIN) == {"ok": True, "erased": email}


def found(needles: dict[str, str], files: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles occur (case-insensitively) in which of `files`."""
    where: dict[str, list[str]] = {}
    for name, content in files.items():
        for what, needle in needles.items():
            if needle.lower().encode() in content.lower():
                where.setdefault(what, []).append(name)
    return where


def store_bytes(store_url: str, folder: Path) -> dict[str, bytes]:
    """Every byte the store keeps: on SQLite, each file of its directory (database, -wal, -shm,
    keys, anchor); on PostgreSQL, each of the database's table, index and TOAST files, as
    written to disk."""
    if store_url.startswith("sqlite"):
        return {
            str(path.relative_to(folder)): path.read_bytes()
            for path in folder.rglob("*")
            if path.is_file()
        }
    with pg_session(store_url, autocommit=True) as session:
        try:
            session.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("reading PostgreSQL's files takes a superuser")
        rows = session.execute(
            "SELECT c.relname, pg_read_binary_file(pg_relation_filepath(c.oid)) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN (current_schema(), 'pg_toast') AND c.relkind IN ('r', 'i', 't') "
            "AND pg_relation_filepath(c.oid) IS NOT NULL"
        ).fetchall()
    return {str(name): bytes(content or b"") for name, content in rows}


def pg_session(store_url: str, *, autocommit: bool) -> psycopg.Connection[Any]:
    return psycopg.connect(StoreLocation.parse(store_url).pg_conninfo(), autocommit=autocommit)


READER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "in a transaction":
    connection.execute("BEGIN")
connection.execute("SELECT count(*) FROM rm_accounts").fetchone()
print("reading", flush=True)
sys.stdin.read()
"""


@contextmanager
def another_reader(store_url: str, *, in_a_transaction: bool) -> Iterator[int]:
    """Another process (SQLite) or session (PostgreSQL) that has read the store and keeps it
    open, idle or inside its transaction; yields its pid."""
    if store_url.startswith("sqlite"):
        path = StoreLocation.parse(store_url).sqlite_path
        mode = "in a transaction" if in_a_transaction else "idle"
        with subprocess.Popen(
            [sys.executable, "-c", READER, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as reader:
            assert reader.stdout is not None and reader.stdin is not None
            assert reader.stdout.readline() == "reading\n"
            yield reader.pid
            reader.stdin.close()
        return
    with pg_session(store_url, autocommit=not in_a_transaction) as session:
        session.execute("SELECT count(*) FROM rm_accounts").fetchone()
        yield session.info.backend_pid


def test_erasure_deletes_the_texts_to_every_number_she_ever_enrolled(
    ledger: Ledger, ada: str
) -> None:
    """The number she dropped (and was texted on) used to stay in the outbox."""
    her_life_and_bobs(ledger, ada)
    assert {text["to"] for text in ledger.ok("sms", "outbox")} == {PHONE, OTHER_PHONE, BOBS_PHONE}

    erase(ledger, ada)

    assert [text["to"] for text in ledger.ok("sms", "outbox")] == [BOBS_PHONE]


def test_erasure_leaves_none_of_her_data_in_any_byte_of_the_store_with_other_connections_open(
    ledger: Ledger, ada: str, store: LedgerStore, store_url: str, tmp_path: Path
) -> None:
    """Her e-mail and addresses used to stay in freed pages and the write-ahead log while
    another process had the store open (the purge ran before the read models were rebuilt)."""
    her_life_and_bobs(ledger, ada)
    ledger.ok("projections", "run")  # as the worker does on PostgreSQL
    assert store.event_count()  # the test's own store is open throughout, as a server's is
    with another_reader(store_url, in_a_transaction=False):
        before = found(HER_PERSONAL_DATA, store_bytes(store_url, tmp_path))
        erase(ledger, ada)
        after = store_bytes(store_url, tmp_path)

    kept_in_clear = {
        "e-mail address",
        "first phone number",
        "second phone number",
        "IPv4 address",
        "IPv6 address",
    }
    assert kept_in_clear <= set(before), before  # the search does find her, before
    assert found(HER_PERSONAL_DATA, after) == {}
    assert set(found(BOBS_PERSONAL_DATA, after)) == set(BOBS_PERSONAL_DATA)


def test_a_reader_of_her_old_rows_holds_erasure_up_named_and_erasing_again_finishes(
    ledger: Ledger, ada: str, store_url: str, tmp_path: Path
) -> None:
    """Rows a reader still sees cannot be purged under it: erasure waits, then says who is
    reading (never claiming a purge it did not do), and running it again finishes the job."""
    her_life_and_bobs(ledger, ada)
    with another_reader(store_url, in_a_transaction=True) as reader:
        result = ledger.later(days=1).run("erase", ada, *BY_THE_ADMIN, "--json")
        assert result.exit_code == 1, result.output
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "store_busy"
        assert f"pid {reader} (" in error["message"]

    erase(ledger, ada)
    assert found(HER_PERSONAL_DATA, store_bytes(store_url, tmp_path)) == {}


def test_an_erased_account_leaves_every_list(ledger: Ledger, ada: str) -> None:
    """Her API key used to stay listed as live, and (before issue 12) her sessions."""
    her_life_and_bobs(ledger, ada)
    assert len(ledger.ok("sessions", "list", ada)) == 3
    assert len(ledger.ok("api-keys", "list", ada)) == 1

    erase(ledger, ada)

    assert ledger.ok("sessions", "list", ada) == []
    assert ledger.ok("api-keys", "list", ada) == []


def test_her_address_opens_a_new_unrelated_account_and_every_lookup_finds_that_one(
    ledger: Ledger, ada: str, store: LedgerStore, tmp_path: Path
) -> None:
    """An erased address could never be used again: `user create` answered account_exists."""
    configure_sso(ledger, tmp_path, "idp")
    key = her_life_and_bobs(ledger, ada)
    token = sign_in(ledger, ada)["session_token"]
    assert sso(ledger, ada)["outcome"] == "success"  # binds her identity at the IdP
    ledger.ok("workspace", "grant", ada, "design", "--role", "owner", *BY_THE_ADMIN)
    erased_id = store.account_id(ada)
    erase(ledger, ada)
    her_stream = f"SELECT * FROM {store.event_table} WHERE originator_id = ?"
    with store.database.transaction() as tx:
        her_events = tx.fetchall(her_stream, (str(erased_id),))

    created = ledger.later(minutes=1).ok(
        "user", "create", ada, "--org", "acme", "--password-stdin", stdin="a-new-password\n"
    )

    assert created["account_id"] != str(erased_id)
    ledger.refused("user", "create", ada, "--org", "acme", code="account_exists")
    # Her credentials open nothing; the newcomer's do, and only the newcomer's.
    assert sign_in(ledger, ada)["reason"] == "invalid_password"
    assert with_key(ledger, ada, key)["reason"] == "invalid_api_key"
    token_refused(ledger, token)
    assert sign_in(ledger, ada, "a-new-password")["outcome"] == "success"
    # Every question about the address is about the new account, which inherits nothing.
    assert store.account_id(ada) == UUID(created["account_id"])
    assert enabled_factors(ledger, ada) == []
    assert [entry["action"] for entry in ledger.ok("audit", ada)] == ["account_created"]
    assert len(history(ledger, ada)) == 3  # the two refusals above, and the newcomer
    assert len(ledger.ok("sessions", "list", ada)) == 1
    assert ledger.ok("api-keys", "list", ada) == []
    assert ledger.ok("state", ada, "--as-of", format_instant(ledger.now))["workspaces"] == []
    # Her identity at the IdP ended with her: the address's new owner signs in with it.
    assert sso(ledger, ada)["outcome"] == "success"
    # The erased account's events are exactly as they were, and the ledger verifies.
    with store.database.transaction() as tx:
        assert tx.fetchall(her_stream, (str(erased_id),)) == her_events
    assert ledger.ok("verify", "--store")["ok"] is True


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The most common umask, which left group and others able to read what it created."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes_under(folder: Path) -> dict[str, str]:
    """Every file below `folder` (relative name) with its permission bits, in octal."""
    return {
        str(path.relative_to(folder)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_every_file_the_ledger_creates_is_readable_by_its_owner_only_whatever_the_umask(
    ledger: Ledger, store_url: str, tmp_path: Path, umask_022: None
) -> None:
    """Another local user used to read the store, its write-ahead log, exports and manifests."""
    reader = LedgerStore(StoreLocation.parse(store_url))  # holds -wal and -shm open
    try:
        ledger.ok("org", "create", "acme")
        create_user(ledger, ADA)
        ledger.ok("checkpoint")  # and its anchor file
        exports = tmp_path / "exports"
        exports.mkdir()
        for fmt in ("jsonl", "csv"):
            out = exports / f"ada.{fmt}"
            ledger.ok("export", "--user", ADA, "--format", fmt, "--out", str(out))
        created = modes_under(tmp_path)
    finally:
        reader.close()

    expected = {"exports/ada.jsonl", "exports/ada.csv.manifest.json"}
    if store_url.startswith("sqlite"):
        expected |= {"ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"}
    assert expected <= set(created)
    assert any(name.endswith("signing-key") or name.endswith("signing.key") for name in created)
    assert sum("anchor-" in name for name in created) == 1
    assert created == dict.fromkeys(created, "0o600")


FORMULAS = ("=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd")


def test_a_formula_planted_in_a_user_agent_reaches_the_csv_export_as_text_only(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """An attacker's failed sign-ins put formulas in the victim's CSV export; the auditor who
    opens it in a spreadsheet must see text, and the export must still verify."""
    for formula in FORMULAS:
        result = ledger.later(minutes=1).run(
            "login", ada, "--method", "password", "--password-stdin", "--ip", IP,
            "--user-agent", formula, "--json", stdin="guess\n",
        )  # fmt: skip
        assert outcome(result)["reason"] == "invalid_password"
    public_key = ledger.ok("info")["signing_public_key"]
    exported: dict[str, Path] = {}
    for fmt in ("csv", "jsonl"):
        exported[fmt] = tmp_path / f"ada.{fmt}"
        ledger.ok("export", "--user", ada, "--format", fmt, "--out", str(exported[fmt]))
        verified = ledger.ok("verify", str(exported[fmt]), "--public-key", public_key)
        assert verified["verified"] is True, verified

    lines = exported["csv"].read_bytes().decode().splitlines()
    cells = [cell for row in csv.reader(lines) for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == []
    for formula in FORMULAS:
        quoted = '"' + ("'" + formula).replace('"', '""') + '"'
        assert sum(quoted in line for line in lines) == 1, formula
    user_agents = [json.loads(line)["user_agent"] for line in exported["jsonl"].open()]
    assert set(FORMULAS) <= set(user_agents)  # the JSONL keeps the exact value
    # No command can start a value with a tab or a carriage return; neutralised all the same.
    for start in ("\t", "\r"):
        record = {name: start + "=1+1" for name in FIELDS}
        encoded = RECORD_FORMATS["csv"].encode(record)
        assert encoded.startswith(b"\"'" + start.encode() + b'=1+1",')


def test_a_sign_in_without_its_secret_is_bad_input_and_never_counts_towards_a_lockout(
    ledger: Ledger, ada: str
) -> None:
    """A script that forgot `--password-stdin` (or an attacker who wants the owner locked out
    without even guessing) used to record a failed sign-in, counted towards the lockout."""
    from fastapi.testclient import TestClient

    from web.app import create_app

    before = ledger.event_count()
    from_somewhere = ("--ip", IP, "--user-agent", BROWSER, "--json")
    for _ in range(11):  # one more than the lockout needs
        for method in ("password", "api-key", "sso"):
            result = ledger.bad_input("login", ada, "--method", method, *from_somewhere)
            assert json.loads(result.stdout)["error"]["code"] == "invalid_input"
    with TestClient(create_app(StoreLocation.parse(ledger.url), FixedClock(ledger.now))) as client:
        for body in (
            {"email": ada, "method": "password"},
            {"email": ada, "method": "password", "api_key": "flk.0123456789ab.guess"},
            {"email": ada, "method": "api_key"},
            {"email": ada, "method": "api_key", "password": PASSWORD},
        ):
            answer = client.post("/api/login", json=body)
            assert answer.status_code == 422, body
            assert answer.json()["error"]["code"] == "invalid_input"

    assert ledger.event_count() == before
    assert history(ledger, ada) == []
    assert sign_in(ledger, ada)["outcome"] == "success"  # not locked out


# ---- issue 14: required MFA, who may read compliance, a leaked key enrolling --------------------


def test_a_session_restricted_by_required_mfa_reaches_nothing_but_enrolment(
    ledger: Ledger, ada: str
) -> None:
    """Past her deadline without a factor, a password sign-in opens a session that may only
    enrol and sign out: every other route of the API, and every other form of the page, is
    refused before anything is done or recorded. The restriction holds for sessions opened
    during the grace period too, and enrolling lifts it."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import MovableClock
    from web.app import create_app

    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "1")
    clock = MovableClock(ledger.now + timedelta(hours=1))
    with TestClient(create_app(StoreLocation.parse(ledger.url), clock)) as client:
        body = {"email": ada, "method": "password", "password": PASSWORD}
        in_grace = client.post("/api/login", json=body).json()
        assert "mfa_enrolment_due" in in_grace
        clock.advance(days=1)
        restricted = client.post("/api/login", json=body).json()
        assert restricted["restricted"] == "mfa_enrolment_required"
        before = ledger.event_count()
        for token in (in_grace["session_token"], restricted["session_token"]):
            me = {"Authorization": f"Bearer {token}"}
            for method, path, payload in (
                ("GET", "/api/sessions", None),
                ("GET", "/api/history", None),
                ("GET", "/api/audit", None),
                ("GET", "/api/alerts", None),
                ("GET", "/api/api-keys", None),
                ("GET", "/api/export", None),
                ("POST", "/api/api-keys", {"name": "persistence"}),
                ("POST", "/api/sessions/revoke-others", None),
                ("POST", "/api/mfa/recovery-codes/regenerate", None),
                ("GET", f"/api/state?email={ada}&as_of=2026-11-14T09:00:00Z", None),
            ):
                answer = client.request(method, path, headers=me, json=payload)
                assert answer.status_code == 403, (path, answer.text)
                assert answer.json()["error"]["code"] == "mfa_enrolment_required"
        assert ledger.event_count() == before
        me = {"Authorization": f"Bearer {restricted['session_token']}"}
        secret = client.post("/api/mfa/totp/enrol", headers=me).json()["secret"]
        code = pyotp.TOTP(secret).at(clock.now())
        client.post("/api/mfa/totp/confirm", headers=me, json={"code": code})
        assert client.get("/api/sessions", headers=me).status_code == 200


def test_nobody_but_the_organisations_admin_learns_its_members_compliance(
    ledger: Ledger, ada: str
) -> None:
    """A member, another organisation's admin, and anyone naming an organisation that does not
    exist get the same 403, so the answer tells nobody which organisations exist."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import MovableClock
    from web.app import create_app

    create_user(ledger, "root@acme.test")
    ledger.ok("org", "admin", "add", "acme", "root@acme.test")
    ledger.ok("org", "create", "rival")
    ledger.ok("user", "create", "eve@rival.test", "--org", "rival", "--password-stdin",
              stdin=f"{PASSWORD}\n")  # fmt: skip
    ledger.ok("org", "admin", "add", "rival", "eve@rival.test")
    clock = MovableClock(ledger.now + timedelta(minutes=1))
    with TestClient(create_app(StoreLocation.parse(ledger.url), clock)) as client:

        def bearer(email: str) -> dict[str, str]:
            body = {"email": email, "method": "password", "password": PASSWORD}
            token = client.post("/api/login", json=body).json()["session_token"]
            return {"Authorization": f"Bearer {token}"}

        root, member, eve = bearer("root@acme.test"), bearer(ada), bearer("eve@rival.test")
        assert client.get("/api/org/acme/compliance", headers=root).status_code == 200
        answers = [
            client.get(f"/api/org/{slug}/compliance", headers=who)
            for slug, who in (("acme", member), ("acme", eve), ("ghost", eve), ("ghost", member))
        ]
        assert {(a.status_code, a.text) for a in answers} == {(403, answers[0].text)}


def test_a_leaked_api_key_cannot_enrol_its_holders_second_factor(ledger: Ledger, ada: str) -> None:
    """Without this rule, an API key's session could enrol the attacker's app on an account
    with no factor, and its owner would then be asked for the attacker's codes."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import MovableClock
    from web.app import create_app

    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    clock = MovableClock(ledger.now + timedelta(minutes=1))
    with TestClient(create_app(StoreLocation.parse(ledger.url), clock)) as client:
        body = {"email": ada, "method": "api_key", "api_key": key}
        token = client.post("/api/login", json=body).json()["session_token"]
        me = {"Authorization": f"Bearer {token}"}
        for path, payload in (
            ("/api/mfa/totp/enrol", None),
            ("/api/mfa/sms/enrol", {"phone": "+14155550199"}),
        ):
            answer = client.post(path, headers=me, json=payload)
            assert (answer.status_code, answer.json()["error"]["code"]) == (
                403,
                "reauthentication_required",
            ), answer.text
    status = ledger.ok("mfa", "status", ada)
    assert not status["totp"]["enabled"] and not status["sms"]["enabled"]
    refused = [e for e in ledger.ok("audit", ada) if e["action"] == "reauthentication_required"]
    assert len(refused) == 2


def test_asking_for_texted_codes_can_neither_probe_accounts_nor_flood_a_phone(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    """`POST /api/login/sms-code` (and "Text me a code") take nothing but an address. The
    attacker asks for Ada (whose phone is her only factor), Bob (no phone) and an address with
    no account: every answer is the same, throttled ones included. A botnet, a new address per
    request, gets at most 3 texts to her phone in 10 minutes and 10 in a day; one address gets
    50 requests a day across every account. Each refusal is on her record; a code read off her
    phone (a SIM swap) still needs her password."""
    from fastapi.testclient import TestClient

    from tests.web.conftest import MovableClock
    from web.app import create_app

    enable_sms(ledger, ada)
    create_user(ledger, "bob@acme.test")
    everyone = (ada, "bob@acme.test", "nobody@acme.test")
    clock = MovableClock(ledger.now + timedelta(minutes=1))
    app = create_app(StoreLocation.parse(ledger.url), clock)
    bots = iter(f"198.51.{n // 250}.{n % 250 + 1}" for n in range(10_000))

    def ask(email: str, source: str | None = None) -> tuple[int, str, str | None]:
        with TestClient(app, client=(source or next(bots), 40_000)) as attacker:
            answer = attacker.post("/api/login/sms-code", json={"email": email})
        return answer.status_code, answer.text, answer.headers.get("retry-after")

    def sign_in_codes_texted() -> list[str]:
        texted = ledger.ok("sms", "outbox", "--to", PHONE)
        return [t["sent_at"] for t in texted if "sign-in code" in t["body"]]

    # Probing: the same answer for all three, before the throttle and under it.
    for _burst in range(4):  # 10 minutes apart: 3 let through each time, then the day's last
        answers = {ask(email) for email in everyone for _ in range(4)}
        assert len(answers) == 2, answers  # one 202 and one 429, each alike for every address
        assert {status for status, _, _ in answers} == {202, 429}
        clock.advance(minutes=10)
    assert len(sign_in_codes_texted()) == 10  # 3 a burst, 10 in a day
    for email in everyone:  # the day's budget is spent, for each address alike
        assert {ask(email)[0] for _ in range(5)} == {429}
    assert len({ask(email) for email in everyone}) == 1
    clock.advance(hours=24)
    assert {ask(email)[0] for email in everyone} == {202}
    assert len(sign_in_codes_texted()) == 11

    # Burning money from one address: 50 requests a day, whatever they name.
    for n in range(50):
        assert ask(f"user{n}@acme.test", "203.0.113.66")[0] == 202
    assert ask(ada, "203.0.113.66")[:1] == (429,)
    assert len(sign_in_codes_texted()) == 11

    # Recorded where it concerns an account; the address with no account is named nowhere.
    refused = [e for e in ledger.ok("audit", ada) if e["action"] == "sms_code_refused"]
    assert len(refused) == (4 * 4 - 10) + (5 + 1) + 1  # the bursts, the spent day, from .66
    assert {e["details"]["reason"] for e in refused} == {"too_many_attempts"}
    bobs = [e for e in ledger.ok("audit", "bob@acme.test") if e["action"] == "sms_code_refused"]
    assert {e["details"]["reason"] for e in bobs} == {"factor_not_enabled", "too_many_attempts"}
    out = tmp_path / "all.jsonl"
    ledger.ok("export", "--all", "--format", "jsonl", "--out", str(out))
    assert "nobody@" not in out.read_text()

    # A code read off her phone is not a sign-in.
    code = newest_texted_code(ledger)
    with TestClient(app) as thief:
        body = {"email": ada, "method": "password", "password": "guess-guess", "sms": code}
        stolen = thief.post("/api/login", json=body)
    assert (stolen.status_code, stolen.json()["reason"]) == (401, "invalid_password")


def test_an_auditor_pointed_at_a_mistyped_path_is_never_told_an_empty_ledger_is_intact(
    ledger: Ledger,
    ada: str,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Issue 15's attack: `verify --store` at a mistyped address created a new, empty ledger
    there, with a new master key, and answered `{"ok": true, "events": 0}`, exit 0."""
    from tests.conftest import fresh_pg_database

    assert ledger.ok("verify", "--store")["events"] > 0  # the real ledger, with ada's history
    monkeypatch.chdir(tmp_path)
    real = StoreLocation.parse(ledger.url)
    if real.sqlite_path is not None:
        path = real.sqlite_path
        not_there = [f"sqlite:///{path.parent / 'typo' / path.name}", f"sqlite:///{path}x"]
        bad_input = ["", f"sqlite://{path}"]  # `sqlite:///` then the path without its slash
    else:
        server = request.getfixturevalue("pg_server")
        not_there = [ledger.url.replace(real.pg_dbname, real.pg_dbname + "x")]
        not_there.append(server.url(fresh_pg_database(server)))  # a database, no ledger
        bad_input = [""]
    before = sorted(tmp_path.rglob("*"))

    for url in not_there + bad_input:
        told = ledger.runner.invoke(main, ["--db", url, "verify", "--store", "--json"])
        code = json.loads(told.stdout)["error"]["code"]
        assert (told.exit_code, code) == (
            (1, "store_not_found") if url in not_there else (2, "invalid_input")
        ), url
        assert "intact" not in told.stdout.lower() + told.stderr.lower()
    # Nothing was created: no file, no directory, no key, no table.
    assert sorted(tmp_path.rglob("*")) == before
    if real.sqlite_path is None:
        with server.connect(StoreLocation.parse(not_there[1]).pg_dbname) as connection:
            tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            assert connection.execute(tables).fetchone() == (0,)
    # A ledger that is there but has never recorded anything is not called intact either.
    empty = f"sqlite:///{tmp_path / 'new.sqlite3'}" if real.sqlite_path else not_there[1]
    assert ledger.runner.invoke(main, ["--db", empty, "init"]).exit_code == 0
    told = ledger.runner.invoke(main, ["--db", empty, "verify", "--store", "--json"])
    assert (told.exit_code, json.loads(told.stdout)["error"]["code"]) == (1, "empty_ledger")


def test_a_query_told_to_wait_for_a_position_that_never_comes_answers_from_the_primary(
    ledger: Ledger, ada: str
) -> None:
    if ledger.url.startswith("sqlite"):
        pytest.skip("replicas are PostgreSQL's")
    ledger.ok("mfa", "totp", "enrol", ada)  # no worker runs: the read models there lag behind
    current = ledger.ok("mfa", "status", ada)  # the primary, caught up
    for replica, after in (
        (ledger.url, str(2**62)),  # a position that will never come
        ("postgresql://nobody@127.0.0.1:1/ledger", "1"),  # a replica that does not answer
    ):
        started = time.monotonic()
        assert ledger.ok("--read-db", replica, "--after", after, "mfa", "status", ada) == current
        assert time.monotonic() - started < 15  # bounded: it never hangs on the replica
    ledger.bad_input("--read-db", ledger.url, "--after", "-1", "mfa", "status", ada)
