"""`export --format ocsf`: a SIEM reads a signed export of OCSF 1.7.0 events, one per line.

Every line is checked against the OCSF schema by the pydantic-ocsf package
(tests/ocsf_schema.py), for every kind of event the command line can record, on both stores.
The few kinds no command records any more (sessions kept in the account before sessions had
streams, an API key authorised again, a step-up refused in the browser) are checked in memory
by tests/unit/test_ocsf.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.clock import epoch_ms, parse_instant
from tests.cli.test_exports import (
    Export,
    assert_intact,
    export,
    manifest_of,
    named_record,
    read_records,
    tampered,
)
from tests.cli.test_forensics import (
    ADA,
    ADMIN,
    ADMIN_IP,
    FIREFOX,
    PASSWORD,
    UK_IP,
    confirm_totp,
    create_members,
    enrol_totp,
    sign_in,
    totp_code,
    wrong_totp_code,
)
from tests.cli.test_sms import code_in, last_text_to
from tests.conftest import T0, Ledger
from tests.identity_provider import SigningIdp
from tests.ocsf_schema import conform

BOB = "bob@acme.test"
STRANGER = "nobody@acme.test"
STRANGER_IP = "198.51.100.66"
MAPPED_IP = "::ffff:808:404"  # 8.8.4.4, reaching an IPv6 socket
PHONE = "+14155550123"
CURL = "curl/8.8.0"
BY_THE_ADMIN = ("--actor", ADMIN, "--ip", ADMIN_IP, "--user-agent", CURL)

# Every kind of event with an OCSF line that a command records, as the export names them.
FROM_THE_COMMAND_LINE = {
    "AccountCreated",
    "AdminAdded",
    "WorkspaceMembershipGranted",
    "WorkspaceMembershipRevoked",
    "AlertSettingsChanged",
    "PasswordChanged",
    "TotpEnrolmentConfirmed",
    "RecoveryCodesGenerated",
    "LoginSucceeded",
    "LoginFailed",
    "TotpCodeAccepted",
    "VerificationFailed",
    "RecoveryCodeUsed",
    "SmsEnrolmentConfirmed",
    "SmsCodeAccepted",
    "SmsDisabled",
    "TotpDisabled",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "SessionSignedOut",
    "OtherSessionsSignedOut",
    "UnknownAccountAttemptsCreated",
    "Attempted",  # another attempt for that address
    "SsoDisconnected",
    "Erased",
}


def login(ledger: Ledger, email: str, *how: str, ip: str = UK_IP, stdin: str = "") -> Any:
    result = ledger.run(
        "login", email, *how, "--ip", ip, "--user-agent", FIREFOX, "--json", stdin=stdin
    )
    return json.loads(result.stdout)


def wrong_password(ledger: Ledger, email: str, ip: str) -> str:
    attempt = login(ledger, email, "--method", "password", "--password-stdin", ip=ip, stdin="x\n")
    return str(attempt["reason"])


@pytest.fixture
def story(ledger: Ledger, tmp_path: Path) -> Ledger:
    """A day of acme's security: everything a member, an admin and a stranger can do."""
    create_members(ledger)
    ledger.ok("user", "create", BOB, "--org", "acme")
    ledger.ok("workspace", "grant", ADA, "design", "--role", "member", *BY_THE_ADMIN)
    ledger.ok("workspace", "revoke", ADA, "design", *BY_THE_ADMIN)
    ledger.ok("user", "alerts", ADA, "--security", "off")
    ledger.ok("user", "set-password", ADA, "--password-stdin", stdin=PASSWORD + "\n")
    secret = enrol_totp(ledger, ADA)
    ledger.later(seconds=30)
    recovery_codes = confirm_totp(ledger, ADA, secret)
    ledger.later(seconds=30)
    session = sign_in(ledger, ADA, secret)
    ledger.later(seconds=30)
    ledger.ok("mfa", "totp", "verify", ADA, totp_code(secret, ledger))
    ledger.later(seconds=30)
    ledger.refused("mfa", "totp", "verify", ADA, wrong_totp_code(secret, ledger))
    ledger.ok("mfa", "recovery-codes", "use", ADA, recovery_codes[0])
    ledger.ok("mfa", "recovery-codes", "regenerate", ADA)
    ledger.ok("mfa", "sms", "enrol", ADA, "--phone", PHONE)
    ledger.ok("mfa", "sms", "confirm", ADA, code_in(last_text_to(ledger, PHONE)["body"]))
    ledger.ok("mfa", "sms", "send-code", ADA)
    ledger.ok("mfa", "sms", "verify", ADA, code_in(last_text_to(ledger, PHONE)["body"]))
    ledger.ok("mfa", "disable", ADA, "sms")
    key = ledger.ok("api-keys", "create", ADA, "--name", "ci")
    by_key = login(ledger, ADA, "--method", "api-key", "--api-key-stdin", stdin=key["key"] + "\n")
    assert by_key["outcome"] == "success", by_key
    ledger.ok("sessions", "revoke", ADA, by_key["session_id"])
    ledger.ok("api-keys", "revoke", ADA, key["key_id"])
    ledger.ok("sessions", "revoke-others", ADA, "--keep", session["session_id"])
    ledger.later(seconds=30)
    ledger.ok("mfa", "disable", ADA, "totp")
    for _ in range(10):  # the tenth locks her out...
        assert wrong_password(ledger, ADA, MAPPED_IP) == "invalid_password"
    assert wrong_password(ledger, ADA, MAPPED_IP) == "locked_out"  # ...and the next is refused
    for _ in range(2):  # answered as a wrong password; recorded as an unknown address
        assert wrong_password(ledger, STRANGER, STRANGER_IP) == "invalid_password"
    ledger.later(hours=1)
    idp = SigningIdp()
    ledger.ok(
        *("org", "sso", "acme", "--idp", "okta", "--issuer", idp.issuer),
        *("--client-id", idp.client_id, "--jwks-file", str(idp.jwks_file(tmp_path))),
        *("--mfa", "idp"),
    )
    token = idp.token(ledger.now, ADA)
    by_sso = login(ledger, ADA, "--method", "sso", "--id-token-stdin", stdin=token + "\n")
    assert by_sso["outcome"] == "success", by_sso
    ledger.ok("user", "sso-disconnect", ADA, *BY_THE_ADMIN)
    ledger.ok("erase", BOB, *BY_THE_ADMIN)
    return ledger


def ocsf_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_event(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["metadata"]["event_code"] == name]


def test_every_line_conforms_to_ocsf_for_every_kind_of_event_the_commands_record(
    story: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "acme.ocsf"

    result = export(story, path, "ocsf", "--all")

    lines = ocsf_lines(path)
    assert result["records"] == len(lines) == manifest_of(path)["records"]
    for line in lines:
        conform(line)
    assert {line["metadata"]["event_code"] for line in lines} == FROM_THE_COMMAND_LINE
    assert {line["metadata"]["version"] for line in lines} == {"1.7.0"}
    assert manifest_of(path)["format"] == "ocsf"
    assert_intact(path, "--public-key", story.ok("info")["signing_public_key"])


def test_an_ocsf_export_holds_the_same_events_as_json_lines_less_those_left_out(
    story: Ledger, tmp_path: Path
) -> None:
    """Same positions, same instants (in milliseconds), same accounts; only the kinds of event
    OCSF has no class for (docs/FORMAT.md ("OCSF mapping")) are missing."""
    export(story, tmp_path / "acme.ocsf", "ocsf", "--org", "acme")
    export(story, tmp_path / "acme.jsonl", "jsonl", "--org", "acme")

    lines = ocsf_lines(tmp_path / "acme.ocsf")
    records = {r["position"]: r for r in read_records(tmp_path / "acme.jsonl")}
    assert {r["event"] for r in records.values()} - FROM_THE_COMMAND_LINE == {
        "OrganisationCreated",
        "SessionOpened",
        "TotpEnrolmentStarted",
        "SmsEnrolmentStarted",
        "SmsLoginCodeSent",
        "SsoConfigured",
    }
    kept = [p for p, r in records.items() if r["event"] in FROM_THE_COMMAND_LINE]
    assert [line["metadata"]["sequence"] for line in lines] == kept
    for line in lines:
        record = records[line["metadata"]["sequence"]]
        assert line["time"] == epoch_ms(parse_instant(record["timestamp"]))
        assert line["metadata"]["event_code"] == record["event"]
        assert line["unmapped"]["details"] == record["details"]
        assert line["user"]["org"]["name"] == "acme"
    times = [line["time"] for line in lines]
    first, last = manifest_of(tmp_path / "acme.ocsf")["time_range"].values()
    assert (epoch_ms(parse_instant(first)), epoch_ms(parse_instant(last))) == (
        min(times),
        max(times),
    )


def test_sign_ins_say_how_from_where_and_how_severe(story: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "ada.ocsf"
    export(story, path, "ocsf", "--user", ADA)
    lines = ocsf_lines(path)

    by_password, by_key, by_sso = by_event(lines, "LoginSucceeded")
    assert by_password["class_uid"] == 3002
    assert by_password["type_name"] == "Authentication: Logon"
    assert [f["factor_type"] for f in by_password["auth_factors"]] == ["Password", "OTP"]
    assert by_password["is_mfa"] is True
    assert by_password["src_endpoint"]["ip"] == UK_IP
    assert by_password["src_endpoint"]["location"]["country"] == "GB"
    assert by_password["http_request"] == {"user_agent": FIREFOX}
    assert by_password["session"]["uid"] == by_password["unmapped"]["details"]["session_id"]
    assert by_password["user"]["email_addr"] == ADA
    assert [f["factor_type"] for f in by_key["auth_factors"]] == ["API key"]
    assert by_key["is_mfa"] is False
    assert (by_sso["auth_protocol_id"], by_sso["auth_protocol"]) == (4, "OpenID")
    assert by_sso["session"]["issuer"] == "https://idp.acme.test"

    failures = by_event(lines, "LoginFailed")
    assert [(f["status_code"], f["severity"]) for f in failures] == [
        *[("invalid_password", "Low")] * 10,
        ("locked_out", "Medium"),
    ]
    # The IPv4 client that reached an IPv6 socket is written as the IPv4 address it is.
    assert {f["src_endpoint"]["ip"] for f in failures} == {"8.8.4.4"}
    assert {f["src_endpoint"]["location"]["country"] for f in failures} == {"US"}

    granted = by_event(lines, "WorkspaceMembershipGranted")[0]
    assert granted["type_name"] == "Account Change: Attach Policy"
    assert granted["policy"] == {"name": "member", "group": {"name": "design"}}
    assert granted["actor"]["user"]["name"] == ADMIN
    assert granted["src_endpoint"] == {"ip": ADMIN_IP, "location": {"desc": "Documentation range"}}
    disabled = by_event(lines, "TotpDisabled")[0]
    assert (disabled["activity_id"], disabled["auth_factors"][0]["factor_type_id"]) == (11, 7)


def test_a_stranger_and_an_erased_account_are_named_as_far_as_the_ledger_can(
    story: Ledger, tmp_path: Path
) -> None:
    path = tmp_path / "all.ocsf"
    export(story, path, "ocsf", "--all")
    lines = ocsf_lines(path)

    attempts = by_event(lines, "UnknownAccountAttemptsCreated") + by_event(lines, "Attempted")
    assert [a["user"] for a in attempts] == [{"name": STRANGER, "email_addr": STRANGER}] * 2
    assert {a["src_endpoint"]["location"]["desc"] for a in attempts} == {"Documentation range"}
    assert {(a["status_id"], a["status_code"]) for a in attempts} == {(2, "unknown_user")}
    erased = by_event(lines, "Erased")[0]
    assert erased["type_name"] == "Account Change: Delete"
    assert erased["user"]["name"] == "[erased]"
    assert BOB not in path.read_text(encoding="utf-8")


# ---- verifying an OCSF export ----------------------------------------------------------------


@pytest.fixture
def ocsf_export(ledger: Ledger, tmp_path: Path) -> Export:
    create_members(ledger)
    secret = enrol_totp(ledger, ADA)
    ledger.later(seconds=30)
    confirm_totp(ledger, ADA, secret)
    ledger.later(seconds=30)
    sign_in(ledger, ADA, secret)
    ledger.ok("workspace", "grant", ADA, "design", "--role", "member", *BY_THE_ADMIN)
    path = tmp_path / "ada.ocsf"
    assert export(ledger, path, "ocsf", "--user", ADA)["records"] == 5
    assert_intact(path, "--public-key", ledger.ok("info")["signing_public_key"])
    return Export(path, "ocsf")


def rewrite(exported: Export, number: int, change: Any) -> None:
    """Change line `number` (1-based) and write it back as the exporter writes lines."""
    lines = exported.path.read_bytes().splitlines(keepends=True)
    line = json.loads(lines[number - 1])
    change(line)
    dumped = json.dumps(line, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    lines[number - 1] = dumped.encode() + b"\n"
    exported.path.write_bytes(b"".join(lines))


def test_altering_any_attribute_of_an_ocsf_line_names_that_line(ocsf_export: Export) -> None:
    alterations = {
        "severity": lambda line: line.update(severity_id=4, severity="High"),
        "source": lambda line: line["src_endpoint"].update(ip="192.0.2.1"),
        "user": lambda line: line["user"].update(name="eve@acme.test"),
        "time": lambda line: line.update(time=line["time"] + 1),
        "details": lambda line: line["unmapped"]["details"].update(method="sso"),
        "no chain": lambda line: line["unmapped"].pop("chain"),
        "no unmapped": lambda line: line.pop("unmapped"),
    }
    for name, alter in alterations.items():
        with ocsf_export.restored_afterwards():
            rewrite(ocsf_export, 4, alter)  # her sign-in

            assert named_record(ocsf_export.path) == 4, name
    assert_intact(ocsf_export.path)


def test_a_removed_ocsf_line_and_a_rewritten_chain_are_found(ocsf_export: Export) -> None:
    lines = ocsf_export.path.read_bytes().splitlines(keepends=True)
    with ocsf_export.restored_afterwards():
        ocsf_export.path.write_bytes(b"".join(lines[:1] + lines[2:]))

        assert named_record(ocsf_export.path) == 2

    def hide(line: dict[str, Any]) -> None:
        line["src_endpoint"]["ip"] = "192.0.2.1"

    rewrite(ocsf_export, 5, hide)
    chain, forged = "0" * 64, []
    for line in ocsf_export.path.read_bytes().splitlines():
        record = json.loads(line)
        record["unmapped"].pop("chain")
        covered = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        chain = hashlib.sha256(bytes.fromhex(chain) + covered.encode()).hexdigest()
        record["unmapped"]["chain"] = chain
        dumped = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        forged.append(dumped.encode() + b"\n")
    ocsf_export.path.write_bytes(b"".join(forged))

    assert "rewritten" in tampered(ocsf_export.path)


def test_the_same_ocsf_export_twice_is_byte_identical(ledger: Ledger, tmp_path: Path) -> None:
    create_members(ledger)
    ledger.at(T0 + timedelta(milliseconds=1, microseconds=999))
    ledger.ok("workspace", "grant", ADA, "design", "--role", "member", *BY_THE_ADMIN)

    export(ledger, tmp_path / "monday" / "acme.ocsf", "ocsf", "--org", "acme")
    export(ledger, tmp_path / "tuesday" / "acme.ocsf", "ocsf", "--org", "acme")

    monday = (tmp_path / "monday" / "acme.ocsf").read_bytes()
    assert (tmp_path / "tuesday" / "acme.ocsf").read_bytes() == monday
    grant = by_event(ocsf_lines(tmp_path / "monday" / "acme.ocsf"), "WorkspaceMembershipGranted")
    assert grant[0]["time"] == epoch_ms(T0) + 1  # the microseconds are cut, not rounded
