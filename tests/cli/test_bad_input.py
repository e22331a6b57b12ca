"""Bad input: exit 2, a clear message on stderr, and nothing recorded in the ledger.

Every case below is a command a user could mistype. Each would change the account (or record a
refused attempt) if its input were valid, so "the event count is unchanged" means something.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from click.testing import Result

from cli import main
from tests.cli.test_totp import code_at
from tests.conftest import Ledger

ADA = "ada@acme.test"
INVALID_UTF8 = b"\xff\xfe correct horse battery staple\n"
# `org sso`, its OpenID provider, and an SSO sign-in, for the cases about something else.
SSO = ("org", "sso", "acme")
OKTA = (*SSO, "--idp", "okta")
PROVIDER = ("--issuer", "https://idp.acme.test", "--client-id", "flero-ledger")
SSO_TO_OKTA = (*OKTA, *PROVIDER, "--mfa", "idp")
SSO_LOGIN = ("login", ADA, "--method", "sso", "--ip", "203.0.113.9", "--user-agent", "curl/8")
PRIVATE_JWKS = json.dumps(
    {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "shared"}]}
)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    says: str  # what the message on stderr must contain
    now: str | None = None  # a --now of our own instead of the test's clock
    stdin: str | bytes | None = None


def case(*args: str, says: str, now: str | None = None, stdin: str | bytes | None = None) -> Case:
    return Case(args, says, now, stdin)


BAD_EMAILS = ["not-an-email", "a@", "@b.c", "a b@c.d", ""]
BAD_IPS = ["999.1.1.1", "1.2.3", "hello"]
BAD_TIMESTAMPS = ["yesterday", "2026-13-01", "14/11/2026"]
BAD_CODES = ["12345", "1234567", "12a456"]
BAD_RECOVERY_CODES = ["abcd-efgh", "abcd-efgh-jkmn-pqrs", "abcd-efgh-jkm!", "uuuu-uuuu-uuuu", ""]

CASES = [
    # e-mail addresses: as the subject, as the actor, and for a new account
    *[
        pytest.param(
            case("user", "create", bad, "--org", "acme", says=f"{bad!r} is not a valid e-mail"),
            id=f"user-create-email={bad!r}",
        )
        for bad in BAD_EMAILS
    ],
    *[
        pytest.param(
            case("user", "alerts", bad, "--security", "off", says=f"{bad!r} is not a valid e-mail"),
            id=f"alerts-email={bad!r}",
        )
        for bad in BAD_EMAILS
    ],
    *[
        pytest.param(
            case(
                "workspace",
                "grant",
                ADA,
                "docs",
                "--role",
                "member",
                "--actor",
                bad,
                says=f"{bad!r} is not a valid e-mail",
            ),
            id=f"actor={bad!r}",
        )
        for bad in BAD_EMAILS
    ],
    # IP addresses
    *[
        pytest.param(
            case(
                "user",
                "alerts",
                ADA,
                "--security",
                "off",
                "--ip",
                bad,
                says=f"{bad!r} is not an IPv4 or IPv6 address",
            ),
            id=f"ip={bad}",
        )
        for bad in BAD_IPS
    ],
    # timestamps: the global --now, and the audit's day filters
    *[
        pytest.param(
            case(
                "user",
                "alerts",
                ADA,
                "--security",
                "off",
                now=bad,
                says=f"{bad!r} is not an ISO 8601 timestamp",
            ),
            id=f"now={bad}",
        )
        for bad in BAD_TIMESTAMPS
    ],
    *[
        pytest.param(
            case("audit", ADA, option, bad, says=f"{bad!r} is not an ISO 8601 timestamp"),
            id=f"audit{option}={bad}",
        )
        for bad in BAD_TIMESTAMPS
        for option in ("--from", "--to")
    ],
    # six-digit codes: a well-formed wrong one would be recorded as a failed attempt
    *[
        pytest.param(
            case("mfa", "totp", "verify", ADA, bad, says=f"{bad!r} is not a 6-digit code"),
            id=f"totp-code={bad}",
        )
        for bad in BAD_CODES
    ],
    *[
        pytest.param(
            case("mfa", "sms", "verify", ADA, bad, says=f"{bad!r} is not a 6-digit code"),
            id=f"sms-code={bad}",
        )
        for bad in BAD_CODES
    ],
    *[
        pytest.param(
            case(
                "mfa",
                "recovery-codes",
                "use",
                ADA,
                bad,
                says="a recovery code looks like xxxx-xxxx-xxxx",
            ),
            id=f"recovery-code={bad!r}",
        )
        for bad in BAD_RECOVERY_CODES
    ],
    # phone numbers
    *[
        pytest.param(
            case("mfa", "sms", "enrol", ADA, "--phone", bad, says="not a valid phone number"),
            id=f"phone={bad}",
        )
        for bad in ["4155550123", "+1", "hello"]
    ],
    # organisation slugs and names
    pytest.param(
        case("org", "create", "Acme Corp", says="'Acme Corp' is not a valid slug"),
        id="slug-with-capitals-and-space",
    ),
    pytest.param(
        case("org", "create", "--", "-x", says="'-x' is not a valid slug"),
        id="slug-starting-with-a-dash",
    ),
    pytest.param(
        case("org", "create", "-x", says="No such option '-x'"), id="slug-read-as-an-option"
    ),
    pytest.param(
        case("org", "create", "acme", "corp", says="unexpected extra argument (corp)"),
        id="slug-with-a-space-unquoted",
    ),
    pytest.param(
        case("user", "create", "bob@acme.test", "--org", "Acme Corp", says="not a valid slug"),
        id="user-create-org-slug",
    ),
    pytest.param(
        case("org", "require-mfa", "Acme Corp", "on", says="not a valid slug"),
        id="require-mfa-slug",
    ),
    pytest.param(
        case(*SSO, "--idp", "Okta Inc", *PROVIDER, "--mfa", "idp", says="'Okta Inc' must be"),
        id="idp-name",
    ),
    pytest.param(
        case("workspace", "grant", ADA, "my docs", "--role", "member", says="'my docs' must be"),
        id="workspace-name",
    ),
    # choices
    pytest.param(
        case(*OKTA, *PROVIDER, "--mfa", "sms", says="'sms' is not one of"),
        id="sso-mfa-choice",
    ),
    pytest.param(
        case("org", "require-mfa", "acme", "maybe", says="'maybe' is not one of"),
        id="require-mfa-choice",
    ),
    pytest.param(
        case("user", "alerts", ADA, "--security", "maybe", says="'maybe' is not one of"),
        id="alerts-choice",
    ),
    pytest.param(
        case("mfa", "disable", ADA, "email", says="'email' is not one of"), id="factor-choice"
    ),
    # missing options and arguments
    pytest.param(
        case(*SSO, *PROVIDER, "--mfa", "idp", says="Missing option '--idp'"),
        id="sso-without-idp",
    ),
    pytest.param(
        case(*OKTA, *PROVIDER, says="Missing option '--mfa'"),
        id="sso-without-mfa",
    ),
    pytest.param(
        case(*OKTA, *PROVIDER[2:], "--mfa", "idp", says="Missing option '--issuer'"),
        id="sso-without-issuer",
    ),
    pytest.param(
        case(*OKTA, *PROVIDER[:2], "--mfa", "idp", says="Missing option '--client-id'"),
        id="sso-without-client-id",
    ),
    # the OpenID provider: https (plain http only on this machine), a client id, public keys
    *[
        pytest.param(
            case(
                *OKTA,
                "--issuer",
                bad,
                *PROVIDER[2:],
                "--mfa",
                "idp",
                says=f"{bad!r} is not an issuer URL",
            ),
            id=f"sso-issuer={bad}",
        )
        for bad in [
            "http://idp.acme.test",
            "idp.acme.test",
            "ftp://idp.acme.test",
            "https://idp.acme.test/?tenant=1",
            "https://user@idp.acme.test",
        ]
    ],
    pytest.param(
        case(
            *(*OKTA, *PROVIDER[:2], "--client-id", "flero ledger", "--mfa", "idp"),
            says="the client id may only hold printable ASCII characters, without spaces",
        ),
        id="sso-client-id-with-a-space",
    ),
    pytest.param(
        case(*SSO_TO_OKTA, "--jwks-file", "-", stdin="not json\n", says="not a JSON Web Key Set"),
        id="sso-jwks-not-json",
    ),
    pytest.param(
        case(
            *SSO_TO_OKTA, "--jwks-file", "-", stdin=PRIVATE_JWKS, says="JSON Web Key Set of public"
        ),
        id="sso-jwks-with-a-shared-secret",
    ),
    # an SSO sign-in: only ever with an ID token, which the IdP's word about MFA is part of
    pytest.param(
        case(*SSO_LOGIN, says="an SSO sign-in takes an ID token (--id-token-stdin)"),
        id="login-sso-without-id-token",
    ),
    pytest.param(
        case(*SSO_LOGIN, "--idp-mfa", says="No such option '--idp-mfa'"),
        id="login-sso-idp-mfa-flag-is-gone",
    ),
    pytest.param(
        case(*SSO_LOGIN, "--id-token-stdin", stdin="not-a-token\n", says="that is not an ID token"),
        id="login-sso-id-token-not-a-jws",
    ),
    pytest.param(
        case(
            *SSO_LOGIN[:3],
            "password",
            *SSO_LOGIN[4:],
            "--id-token-stdin",
            stdin="a.b.c\n",
            says="an SSO sign-in takes an ID token (--id-token-stdin), and only it",
        ),
        id="login-password-with-an-id-token",
    ),
    pytest.param(
        case("user", "create", "bob@acme.test", says="Missing option '--org'"),
        id="user-create-without-org",
    ),
    pytest.param(
        case("user", "alerts", ADA, says="Missing option '--security'"),
        id="alerts-without-security",
    ),
    pytest.param(
        case("workspace", "grant", ADA, "docs", says="Missing option '--role'"),
        id="grant-without-role",
    ),
    pytest.param(
        case("user", "set-password", ADA, stdin="new password 1\n", says="--password-stdin"),
        id="set-password-without-password-stdin",
    ),
    pytest.param(
        case("mfa", "sms", "enrol", ADA, says="Missing option '--phone'"),
        id="sms-enrol-without-phone",
    ),
    pytest.param(case("org", "create", says="Missing argument 'SLUG'"), id="org-create-no-slug"),
    # passwords on stdin
    pytest.param(
        case(
            "user",
            "set-password",
            ADA,
            "--password-stdin",
            stdin=INVALID_UTF8,
            says="not valid UTF-8",
        ),
        id="set-password-invalid-utf8",
    ),
    pytest.param(
        case(
            "user",
            "create",
            "bob@acme.test",
            "--org",
            "acme",
            "--password-stdin",
            stdin=INVALID_UTF8,
            says="not valid UTF-8",
        ),
        id="user-create-invalid-utf8",
    ),
    pytest.param(
        case(
            "user",
            "set-password",
            ADA,
            "--password-stdin",
            stdin="short\n",
            says="the password must be at least 8 characters",
        ),
        id="set-password-too-short",
    ),
]


@pytest.fixture
def protected(ledger: Ledger, account: str) -> str:
    """ada@acme.test with the authenticator app and SMS enabled, so codes can be tried."""
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    ledger.ok("mfa", "totp", "confirm", account, code_at(secret, ledger))
    ledger.ok("mfa", "sms", "enrol", account, "--phone", "+14155550123")
    texted = ledger.ok("sms", "outbox")[0]["body"]
    ledger.ok("mfa", "sms", "confirm", account, re.findall(r"\b\d{6}\b", texted)[0])
    ledger.ok("mfa", "sms", "send-code", account)
    return account


def invoke(ledger: Ledger, bad: Case, as_json: bool = False) -> Result:
    args = list(bad.args)
    if as_json:
        # Options go before a `--`; after it, `--json` would be read as one more argument.
        args.insert(args.index("--") if "--" in args else len(args), "--json")
    if bad.now is None:
        return ledger.run(*args, stdin=bad.stdin)
    result = ledger.runner.invoke(
        main, ["--db", ledger.url, "--now", bad.now, *args], input=bad.stdin
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_exits_2_with_a_clear_message_and_records_nothing(
    ledger: Ledger, protected: str, bad: Case
) -> None:
    before = ledger.event_count()

    result = invoke(ledger, bad)

    assert result.exit_code == 2, result.output
    assert bad.says in result.stderr
    assert "Error:" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.stdout == ""
    assert ledger.event_count() == before


@pytest.mark.parametrize("bad", CASES)
def test_with_json_bad_input_is_one_invalid_input_document(
    ledger: Ledger, protected: str, bad: Case
) -> None:
    before = ledger.event_count()

    result = invoke(ledger, bad, as_json=True)

    assert result.exit_code == 2, result.output
    assert result.stdout.count("\n") == 1, (
        f"--json must print one JSON document; stdout={result.stdout!r} stderr={result.stderr!r}"
    )
    document = json.loads(result.stdout)
    assert document["error"]["code"] == "invalid_input"
    assert bad.says in document["error"]["message"]
    assert set(document) == {"error"}
    assert ledger.event_count() == before


def test_a_valid_password_on_stdin_is_accepted_where_invalid_utf8_was_not(
    ledger: Ledger, account: str
) -> None:
    """The control for the UTF-8 cases: the same command with a readable password works."""
    ledger.bad_input("user", "set-password", account, "--password-stdin", stdin=INVALID_UTF8)
    assert "password_changed" not in [e["action"] for e in ledger.ok("audit", account)]

    ledger.ok("user", "set-password", account, "--password-stdin", stdin="correct hörse 1\n")

    assert ledger.ok("audit", account)[0]["action"] == "password_changed"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("2001:db8::1", "2001:db8::1"), ("2001:DB8:0:0::1", "2001:db8::1"), ("::1", "::1")],
)
def test_ipv6_addresses_are_accepted_and_shown_in_the_audit_log(
    ledger: Ledger, account: str, typed: str, shown: str
) -> None:
    ledger.ok("user", "alerts", account, "--security", "off", "--ip", typed)

    latest = ledger.ok("audit", account)[0]
    assert latest["action"] == "alert_settings_changed"
    assert latest["ip"] == shown
