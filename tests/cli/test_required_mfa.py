"""An organisation's required MFA, as its members and admins meet it on the command line: a
grace period, then sessions that may only enrol; and the compliance report at any instant."""

from __future__ import annotations

import csv
import json
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from commands.login import Login, log_in
from commands.services import Services
from ledger.clock import FixedClock, format_instant
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation
from tests.cli.test_login import PASSWORD, create_user, sign_in
from tests.cli.test_policy_and_recovery import enable_sms, enable_totp
from tests.cli.test_totp import code_at
from tests.conftest import T0, Ledger

DAY = {"days": 1}


@pytest.fixture
def ada(ledger: Ledger) -> str:
    """Organisation `acme` and its member ada@acme.test, with a password and no factor."""
    ledger.ok("org", "create", "acme")
    return create_user(ledger, "ada@acme.test")


def at(ledger: Ledger, days: float) -> str:
    """The instant `days` from the ledger's now, as the JSON writes it."""
    return format_instant(ledger.now + timedelta(days=days))


def timeline_events(ledger: Ledger, email: str) -> list[str]:
    day = format_instant(ledger.now)[:10]
    return [entry["event"] for entry in ledger.ok("timeline", email, "--on", day)]


def report(ledger: Ledger, *extra: str) -> dict[str, dict[str, Any]]:
    return {row["email"]: row for row in ledger.ok("org", "compliance", "acme", *extra)}


# ---- signing in under the requirement --------------------------------------------------------


def test_a_member_without_a_factor_is_told_her_deadline_then_may_only_enrol(
    ledger: Ledger, ada: str
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "3")
    deadline = at(ledger, 3)

    during = sign_in(ledger.later(days=1), ada)
    assert during["mfa_enrolment_due"] == deadline
    assert "restricted" not in during

    after = sign_in(ledger.later(days=2), ada)
    assert after["restricted"] == "mfa_enrolment_required"
    assert "mfa_enrolment_due" not in after
    assert timeline_events(ledger, ada) == [
        "MfaEnrolmentOverdue",
        "LoginSucceeded",
        "SessionOpened",
    ]
    overdue = [e for e in ledger.ok("audit", ada) if e["action"] == "mfa_enrolment_overdue"]
    assert [e["details"] for e in overdue] == [{"deadline": deadline}]

    again = sign_in(ledger.later(hours=1), ada)  # restricted again; the deadline noted once
    assert again["restricted"] == "mfa_enrolment_required"
    assert timeline_events(ledger, ada).count("MfaEnrolmentOverdue") == 1


def test_a_session_restricted_by_the_requirement_is_lifted_by_enrolling(
    ledger: Ledger, ada: str
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")
    session = sign_in(ledger.later(minutes=1), ada)
    token = f"{session['session_token']}\n"
    checked = ledger.ok("sessions", "check", "--token-stdin", stdin=token)
    assert checked["restricted"] == "mfa_enrolment_required"

    enable_totp(ledger, ada)

    assert "restricted" not in ledger.ok("sessions", "check", "--token-stdin", stdin=token)
    assert report(ledger)[ada]["status"] == "compliant"


def test_members_who_join_later_get_their_grace_from_their_first_sign_in(
    ledger: Ledger, ada: str
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "7")
    bob = create_user(ledger.later(days=30), "bob@acme.test")
    assert report(ledger)[bob] | {"email": None} == {
        "email": None,
        "factors": [],
        "sms_only": False,
        "recovery_codes_remaining": 0,
        "last_sign_in": None,
        "deadline": None,  # his week has not begun
        "status": "grace",
    }
    first = format_instant(ledger.later(days=2).now)
    assert sign_in(ledger, bob)["mfa_enrolment_due"] == at(ledger, 7)
    assert sign_in(ledger.later(days=6), bob)["mfa_enrolment_due"] == at(ledger, 1)
    assert sign_in(ledger.later(days=1), bob)["restricted"] == "mfa_enrolment_required"
    assert report(ledger)[bob]["last_sign_in"] == format_instant(ledger.now)
    assert report(ledger, "--as-of", first)[bob]["last_sign_in"] == first


def test_members_with_a_factor_and_api_keys_are_not_held_up(ledger: Ledger, ada: str) -> None:
    bob = create_user(ledger, "bob@acme.test")
    secret = ledger.ok("mfa", "totp", "enrol", bob)["secret"]
    ledger.ok("mfa", "totp", "confirm", bob, code_at(secret, ledger))
    key = ledger.ok("api-keys", "create", ada, "--name", "ci")["key"]
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")
    ledger.later(minutes=1)
    with_totp = sign_in(ledger, bob, PASSWORD, "--totp", code_at(secret, ledger))
    assert set(with_totp) == {"outcome", "session_id", "session_token", "factor"}
    by_key = ledger.ok(
        "login", ada, "--method", "api-key", "--api-key-stdin", "--ip", "203.0.113.9",
        "--user-agent", "ci", stdin=f"{key}\n",
    )  # fmt: skip
    assert by_key["outcome"] == "success" and "restricted" not in by_key


def test_with_totp_required_texted_codes_alone_do_not_count(ledger: Ledger, ada: str) -> None:
    enable_sms(ledger, ada)
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "2", "--methods", "totp")
    row = report(ledger)[ada]
    assert row["sms_only"] is True
    assert (row["status"], row["deadline"]) == ("grace", at(ledger, 2))

    enable_totp(ledger, ada)
    assert report(ledger)[ada]["status"] == "compliant"
    # The app is the factor that counts: it cannot go, even with SMS left.
    ledger.refused("mfa", "disable", ada, "totp", code="mfa_required_by_org")
    ledger.ok("mfa", "disable", ada, "sms")
    ledger.refused("mfa", "disable", ada, "totp", code="mfa_required_by_org")


def test_turning_the_requirement_off_and_on_again_starts_a_new_grace(
    ledger: Ledger, ada: str
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "1")
    assert sign_in(ledger.later(days=2), ada)["restricted"] == "mfa_enrolment_required"
    ledger.ok("org", "require-mfa", "acme", "off")
    assert report(ledger)[ada]["status"] == "not_required"
    assert set(sign_in(ledger.later(minutes=1), ada)) == {
        "outcome", "session_id", "session_token", "factor"
    }  # fmt: skip
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "5")
    assert sign_in(ledger.later(minutes=1), ada)["mfa_enrolment_due"] == at(ledger, 5 - 1 / 1440)


@pytest.mark.parametrize(
    "terms",
    [["--grace-days", "-1"], ["--grace-days", "366"], ["--grace-days", "x"], ["--methods", "sms"]],
)
def test_bad_terms_are_refused_and_record_nothing(
    ledger: Ledger, ada: str, terms: list[str]
) -> None:
    before = ledger.event_count()
    ledger.bad_input("org", "require-mfa", "acme", "on", *terms)
    assert ledger.event_count() == before


# ---- the compliance report ---------------------------------------------------------------------


def test_the_report_answers_for_any_past_instant(ledger: Ledger, ada: str) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "7")
    bob = create_user(ledger, "bob@acme.test")  # created with the requirement: same deadline
    enable_sms(ledger.later(days=1), bob)
    day_three = format_instant(ledger.later(days=2).now)
    enable_totp(ledger.later(days=10), ada)
    now = report(ledger)
    assert {email: row["status"] for email, row in now.items()} == {
        ada: "compliant",
        bob: "compliant",
    }
    assert now[ada]["factors"] == ["totp"] and now[ada]["recovery_codes_remaining"] == 10
    assert now[bob]["sms_only"] is True

    before = report(ledger, "--as-of", day_three)
    assert (before[ada]["status"], before[ada]["deadline"]) == ("grace", at(ledger, -13 + 7))
    later = format_instant(ledger.now - timedelta(hours=1))
    assert report(ledger, "--as-of", later)[ada]["status"] == "overdue"
    ledger.refused(
        "org", "compliance", "acme", "--as-of", format_instant(T0.replace(year=2020)),
        code="not_yet_created",
    )  # fmt: skip


def test_the_report_writes_a_private_csv_and_never_over_a_file(
    ledger: Ledger, ada: str, tmp_path: Path
) -> None:
    ledger.ok("org", "require-mfa", "acme", "on")
    out = tmp_path / "acme.csv"
    written = ledger.ok("org", "compliance", "acme", "--format", "csv", "--out", str(out))
    assert written["members"] == 1
    rows = list(csv.DictReader(out.open(newline="")))
    assert rows == [
        {
            "email": ada,
            "factors": "",
            "sms_only": "no",
            "recovery_codes_remaining": "0",
            "last_sign_in": "",
            "deadline": at(ledger, 7),
            "status": "grace",
        }
    ]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    content = out.read_bytes()
    ledger.bad_input("org", "compliance", "acme", "--format", "csv", "--out", str(out))
    assert out.read_bytes() == content
    ledger.bad_input("org", "compliance", "acme", "--format", "csv")
    ledger.bad_input("org", "compliance", "acme", "--as-of", "yesterday")
    assert ledger.refused("org", "compliance", "nope", code="unknown_org")


def test_the_report_in_text_names_the_policy_and_each_status(ledger: Ledger, ada: str) -> None:
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "3", "--methods", "totp")
    text = ledger.run("org", "compliance", "acme").stdout
    assert "requires MFA (the authenticator app, 3 days' grace)" in text
    assert ada in text and "grace" in text
    assert json.loads(ledger.run("org", "compliance", "acme", "--json").stdout)[0]["email"] == ada


def test_racing_sign_ins_past_the_deadline_note_it_once_and_are_all_recorded(
    ledger: Ledger, ada: str
) -> None:
    """Four sign-ins at once, each through its own store connection: every
    one is answered restricted and recorded, and the deadline passing is noted exactly once."""
    ledger.ok("org", "require-mfa", "acme", "on", "--grace-days", "0")
    ledger.later(minutes=1)
    at = format_instant(ledger.now)
    barrier = threading.Barrier(4)

    def racer() -> str | None:
        # The command itself: the in-process command line swaps stdin, so it runs one at a time.
        store = LedgerStore(StoreLocation.parse(ledger.url))
        try:
            services = Services(store=store, clock=FixedClock(ledger.now))
            attempt = Login(
                email=ada, method="password", password=PASSWORD, ip="203.0.113.9", user_agent="x"
            )
            barrier.wait(timeout=30)
            return log_in(services, attempt).restricted
        finally:
            store.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        restricted = list(pool.map(lambda _: racer(), range(4)))

    assert restricted == ["mfa_enrolment_required"] * 4
    events = [e["event"] for e in ledger.ok("timeline", ada, "--on", at[:10])]
    assert events.count("MfaEnrolmentOverdue") == 1
    assert events.count("LoginSucceeded") == 4
