"""Eight processes hammer the command line on the same few accounts and on many, for a bounded
time, on the live clock. Afterwards the ledger must hold exactly what the clients were told.

Every command goes through the real CLI (in-process, so that thousands fit in the time), and
every answer is kept: exit code and JSON document. Nothing may crash, no concurrent change may
reach a user, every acknowledged attempt is in the ledger exactly once, single-use codes are
accepted at most once across all processes, and read models built while it all happened equal
a rebuild from zero. The SSO sign-ins each bring a fresh ID token from the organisation's IdP
(its keys pinned), so the first ones also race to bind each account to its IdP identity.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pyotp
from click.testing import CliRunner
from joserfc.jwk import RSAKey

from cli import main
from ledger.sign_in import COUNTED_FAILURES
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from tests.conftest import Ledger
from tests.identity_provider import SigningIdp
from tests.integration.test_projections import read_models

WORKERS = 8
SECONDS = {"postgresql": 15.0, "sqlite": 10.0}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
HOT = [f"hot{i}@load.test" for i in range(3)]  # every process signs in here at once
CODES = [f"codes{i}@load.test" for i in range(6)]  # TOTP and recovery codes fought over
GUESSED = [f"guessed{i}@load.test" for i in range(6)]  # API keys guessed until locked
SMS = {"hot0@load.test": "+14155550100", "codes0@load.test": "+14155550101"}
ACCOUNTS = HOT + CODES + GUESSED
# Refusals that would mean a valid, fresh ID token was not taken as one.
TOKEN_REFUSALS = {"invalid_id_token", "id_token_reused", "email_not_verified", "idp_unavailable"}


@dataclass
class Cast:
    url: str
    totp: dict[str, str] = field(default_factory=dict)  # email -> secret
    recovery: dict[str, list[str]] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    idp_key: dict[str, Any] = field(default_factory=dict)  # the IdP's private JWK (picklable)

    def idp(self) -> SigningIdp:
        """The organisation's OpenID provider, in this process."""
        return SigningIdp(keys=[RSAKey.import_key(self.idp_key)])


@dataclass
class Ack:
    """What one client was told: the command, the account, exit code and JSON document."""

    op: str
    email: str
    exit_code: int
    doc: dict[str, Any]
    detail: str = ""  # the code tried, or the session concerned


@dataclass
class Run:
    acks: list[Ack]
    crashes: list[str]
    retried: int


def cli(runner: CliRunner, url: str, *args: str, stdin: str | None = None) -> tuple[int, Any]:
    result = runner.invoke(main, ["--db", url, *args, "--json"], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise RuntimeError(f"{args[0]} crashed: {result.exception!r}")
    return result.exit_code, json.loads(result.stdout.splitlines()[0]) if result.stdout else {}


def prepare(ledger: Ledger, folder: Path) -> Cast:
    """An organisation signing in through SSO with Flero factors, its members enrolled."""
    idp = SigningIdp()
    cast = Cast(ledger.url, idp_key=idp.keys[0].as_dict(private=True))
    ledger.ok("org", "create", "load")
    ledger.ok(
        *("org", "sso", "load", "--idp", "okta", "--issuer", idp.issuer),
        *("--client-id", idp.client_id, "--jwks-file", str(idp.jwks_file(folder))),
        *("--mfa", "flero"),
    )
    for email in ACCOUNTS:
        ledger.ok("user", "create", email, "--org", "load")
        secret = ledger.ok("mfa", "totp", "enrol", email)["secret"]
        code = pyotp.TOTP(secret).at(ledger.now)
        cast.recovery[email] = ledger.ok("mfa", "totp", "confirm", email, code)["recovery_codes"]
        cast.totp[email] = secret
        cast.api_keys[email] = ledger.ok("api-keys", "create", email, "--name", "load")["key"]
    for email, phone in SMS.items():
        ledger.ok("mfa", "sms", "enrol", email, "--phone", phone)
        ledger.ok("mfa", "sms", "confirm", email, newest_text(ledger.ok("sms", "outbox"), phone))
    return cast


def newest_text(outbox: list[dict[str, str]], phone: str) -> str:
    body = next(text["body"] for text in outbox if text["to"] == phone)  # newest first
    return body.split(" code is ")[1][:6]


class RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def hammer(cast: Cast, worker: int, seconds: float) -> Run:
    """One client process: random operations until the time is up."""
    counter = RetryCounter()
    retry_log = logging.getLogger("commands.retry")
    retry_log.addHandler(counter)
    retry_log.setLevel(logging.INFO)
    runner = CliRunner()
    rng = random.Random(worker)
    idp = cast.idp()
    tokens = 0
    acks: list[Ack] = []
    crashes: list[str] = []
    sessions: list[tuple[str, str, str]] = []  # email, session id, token: this client's own
    deadline = time.monotonic() + seconds

    def login(email: str, *options: str, stdin: str | None = None, detail: str = "") -> None:
        args = ["login", email, "--ip", f"198.51.100.{worker}", "--user-agent", UA, *options]
        code, doc = cli(runner, cast.url, *args, stdin=stdin)
        acks.append(Ack("login", email, code, doc, detail))
        if code == 0:
            sessions.append((email, doc["session_id"], doc["session_token"]))

    def sso(email: str, *options: str, detail: str) -> None:
        """An SSO sign-in with an ID token issued just now, never used before."""
        nonlocal tokens
        tokens += 1
        token = idp.token(datetime.now(UTC), email, jti=f"w{worker}-{tokens}")
        login(email, "--method", "sso", "--id-token-stdin", *options, stdin=token, detail=detail)

    # A few guesses first, so that some account is guessed at often enough to lock however
    # slowly the machine runs (eight workers: twelve guesses each at two of the three).
    for _ in range(4):
        login(
            GUESSED[3 + worker % 3], "--method", "api-key", "--api-key-stdin", stdin="flk.x.guess"
        )
    while time.monotonic() < deadline:
        op = rng.choice(["totp", "recovery", "api_key", "api_key", "bad_key", "check", "revoke"])
        op = "bad_key" if rng.random() < 0.1 else op
        op = "sms" if rng.random() < 0.1 else op
        try:
            if op == "totp":
                email = rng.choice(CODES)
                code = pyotp.TOTP(cast.totp[email]).now()
                sso(email, "--totp", code, detail=code)
            elif op == "recovery":
                email = rng.choice(CODES)
                code = rng.choice(cast.recovery[email])
                sso(email, "--recovery-code", code, detail=code)
            elif op == "api_key":
                email = rng.choice(HOT + GUESSED[:3])  # the others only ever see guesses
                login(email, "--method", "api-key", "--api-key-stdin", stdin=cast.api_keys[email])
            elif op == "bad_key":
                email = rng.choice(GUESSED[3:] * 3 + GUESSED[:3])  # mostly where nobody signs in
                login(email, "--method", "api-key", "--api-key-stdin", stdin="flk.x.guess")
            elif op == "check" and sessions:
                owner, session_id, token = rng.choice(sessions)
                code, doc = cli(runner, cast.url, "sessions", "check", "--token-stdin", stdin=token)
                acks.append(Ack("check", owner, code, doc, session_id))
            elif op == "revoke" and sessions:
                owner, session_id, token = sessions.pop(rng.randrange(len(sessions)))
                code, doc = cli(runner, cast.url, "sessions", "revoke", owner, session_id)
                acks.append(Ack("revoke", owner, code, doc, session_id))
                code, doc = cli(runner, cast.url, "sessions", "check", "--token-stdin", stdin=token)
                acks.append(Ack("check_revoked", owner, code, doc, session_id))
            elif op == "sms":
                email, phone = rng.choice(list(SMS.items()))
                code, doc = cli(runner, cast.url, "mfa", "sms", "send-code", email)
                acks.append(Ack("sms_send", email, code, doc))
                _, outbox = cli(runner, cast.url, "sms", "outbox")
                text = newest_text(outbox, phone)
                code, doc = cli(runner, cast.url, "mfa", "sms", "verify", email, text)
                acks.append(Ack("sms_verify", email, code, doc, text))
        except Exception as crash:  # a traceback a user would have seen
            crashes.append(repr(crash))
    return Run(acks, crashes, counter.count)


def test_eight_processes_hammering_the_same_accounts_lose_and_duplicate_nothing(
    ledger: Ledger, backend: str, tmp_path: Path
) -> None:
    cast = prepare(ledger, tmp_path)
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        runs = pool.starmap(hammer, [(cast, w, SECONDS[backend]) for w in range(WORKERS)])
    acks = [ack for run in runs for ack in run.acks]
    store = LedgerStore(StoreLocation.parse(cast.url))
    try:
        events = ledger_events(store)
        report(backend, runs, acks, events)

        assert [crash for run in runs for crash in run.crashes] == []
        assert {ack.exit_code for ack in acks} <= {0, 1}
        leaked = {"concurrent_change", "clock_behind", "store_unavailable"}
        assert [a for a in acks if a.doc.get("error", {}).get("code") in leaked] == []
        assert [a for a in acks if a.doc.get("reason") in TOKEN_REFUSALS] == []
        assert_every_attempt_is_recorded_once(acks, events)
        assert_single_use_codes_were_accepted_once(acks, events)
        guessed = Counter(a.email for a in acks if a.op == "login" and a.email in GUESSED[3:])
        hammered = {store.account_id(email) for email, tries in guessed.items() if tries >= 10}
        assert hammered, "no account was guessed at often enough to lock"
        assert_lockout_held(events, hammered)
        assert_sessions_are_exactly_as_told(ledger.at(datetime.now(UTC)), acks)

        ledger.ok("projections", "run")
        incremental = read_models(store)
        ledger.ok("projections", "rebuild")
        assert read_models(store) == incremental
    finally:
        store.close()


def ledger_events(store: LedgerStore) -> list[Any]:
    mapper = store.app.mapper
    notifications = store.app.recorder.select_notifications(start=1, limit=10_000_000)
    return [mapper.to_domain_event(n) for n in notifications]


def kind(event: Any) -> str:
    return type(event).__name__


def assert_every_attempt_is_recorded_once(acks: list[Ack], events: list[Any]) -> None:
    """A sign-in either opened a session (exit 0) or was refused with a reason (exit 1); each
    of those is one event in the ledger, and the ledger holds no attempt nobody was told of."""
    told = [a for a in acks if a.op == "login"]
    unanswered = [a for a in told if a.exit_code != 0 and "reason" not in a.doc]
    assert unanswered == [], "a sign-in without answer"
    opened = Counter(a.doc["session_id"] for a in told if a.exit_code == 0)
    recorded = Counter(e.session_id for e in events if kind(e) == "LoginSucceeded")
    assert opened == recorded
    assert max(recorded.values()) == 1
    refused = sum(1 for a in told if a.exit_code == 1)
    failed = [e for e in events if kind(e) == "LoginFailed"]
    assert len(failed) == refused
    reasons = Counter(a.doc["reason"] for a in told if a.exit_code == 1)
    assert reasons == Counter(e.reason for e in failed)


def assert_single_use_codes_were_accepted_once(acks: list[Ack], events: list[Any]) -> None:
    accepted = Counter(
        (a.email, a.detail)
        for a in acks
        if a.exit_code == 0 and a.detail and a.op in ("login", "sms_verify")
    )
    assert accepted and max(accepted.values()) == 1, "a code was accepted twice"
    successes = [e for e in events if kind(e) == "LoginSucceeded"]
    steps = Counter((e.originator_id, e.totp_step) for e in successes if e.totp_step is not None)
    assert steps and max(steps.values()) == 1, "a TOTP step was accepted twice"
    spent = Counter(e.recovery_code_hash for e in successes if e.recovery_code_hash)
    assert spent and max(spent.values()) == 1, "a recovery code was accepted twice"
    assert all(
        v <= 10
        for v in Counter(e.originator_id for e in successes if e.recovery_code_hash).values()
    )
    texted = sum(1 for a in acks if a.op == "sms_verify" and a.exit_code == 0)
    assert texted == sum(1 for e in events if kind(e) == "SmsCodeAccepted")


def assert_lockout_held(events: list[Any], hammered: set[UUID]) -> None:
    """Replay each account's attempts by the rule (10 consecutive failures, or 100 in a day,
    lock for at least 15 minutes, longer than this run): once locked, every later attempt is
    refused `locked_out`; never is an account refused `locked_out` before that."""
    locked_accounts = set()
    for account in {e.originator_id for e in events if kind(e) == "LoginSucceeded"} | {
        e.originator_id for e in events if kind(e) == "LoginFailed"
    }:
        consecutive = total = 0
        locked = False
        for e in (e for e in events if e.originator_id == account):
            refusal = getattr(e, "reason", None)
            counted = (kind(e) == "LoginFailed" and refusal in COUNTED_FAILURES) or (
                kind(e) == "VerificationFailed"
                and e.challenge == "sign_in"
                and refusal != "locked_out"
            )
            if locked:
                assert kind(e) not in ("LoginSucceeded", "SmsCodeAccepted"), "in while locked"
                assert not counted, f"{refusal} answered while locked"
            elif refusal == "locked_out":
                raise AssertionError(f"locked after {consecutive} failures")
            elif kind(e) == "LoginSucceeded":
                consecutive = 0
            elif counted:
                consecutive, total = consecutive + 1, total + 1
                locked = consecutive == 10 or total == 100
        if locked:
            locked_accounts.add(account)
    assert hammered <= locked_accounts, "ten guesses or more did not lock the account"


def assert_sessions_are_exactly_as_told(ledger: Ledger, acks: list[Ack]) -> None:
    """A revoked token is refused at once; what is still active is exactly what was opened and
    not revoked."""
    assert all(a.exit_code == 1 for a in acks if a.op == "check_revoked")
    assert all(a.exit_code == 0 for a in acks if a.op == "revoke")
    revoked = {a.detail for a in acks if a.op == "revoke"}
    assert revoked, "the run revoked nothing"
    for email in ACCOUNTS:
        opened = {
            a.doc["session_id"]
            for a in acks
            if a.op == "login" and a.email == email and a.exit_code == 0
        }
        active = {s["session_id"] for s in ledger.ok("sessions", "list", email)}
        assert active == opened - revoked, email


def report(backend: str, runs: list[Run], acks: list[Ack], events: list[Any]) -> None:
    told = Counter(
        f"{a.op}:{a.doc.get('reason') or a.doc.get('error', {}).get('code') or a.exit_code}"
        for a in acks
    )
    print(
        f"\n[{backend}] {WORKERS} processes, {SECONDS[backend]:.0f} s: "
        f"{len(acks)} commands answered ({dict(sorted(told.items()))}); "
        f"{len(events)} events in the ledger; "
        f"{sum(r.retried for r in runs)} concurrent changes retried; "
        f"{sum(len(r.crashes) for r in runs)} crashes"
    )
