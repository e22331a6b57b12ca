"""The organisation's MFA requirement as a pure rule: no store, no clock but the one given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.mfa_requirement import Compliance, MemberFacts, MfaRequirement, compliance

SINCE = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
ANY = MfaRequirement(SINCE, WEEK)


def member(
    joined: datetime = SINCE - timedelta(days=30),
    first_sign_in: datetime | None = None,
    factors: tuple[str, ...] = (),
    answers_to_sso: bool = True,
) -> MemberFacts:
    return MemberFacts(joined, first_sign_in, factors, answers_to_sso)


def test_members_from_before_have_the_grace_from_its_start() -> None:
    assert compliance(ANY, member(), SINCE + timedelta(days=6)) == Compliance("grace", SINCE + WEEK)
    assert compliance(ANY, member(), SINCE + WEEK) == Compliance("overdue", SINCE + WEEK)


def test_a_newcomer_has_no_deadline_until_her_first_sign_in_then_a_week() -> None:
    joined = SINCE + timedelta(days=40)
    assert compliance(ANY, member(joined), joined + timedelta(days=90)) == Compliance("grace")
    first = joined + timedelta(days=2)
    newcomer = member(joined, first_sign_in=first)
    assert compliance(ANY, newcomer, first + WEEK - timedelta(seconds=1)).status == "grace"
    assert compliance(ANY, newcomer, first + WEEK) == Compliance("overdue", first + WEEK)


@pytest.mark.parametrize(
    ("requirement", "factors", "status"),
    [
        (ANY, ("sms",), "compliant"),
        (ANY, ("totp",), "compliant"),
        (MfaRequirement(SINCE, WEEK, "totp"), ("sms",), "overdue"),
        (MfaRequirement(SINCE, WEEK, "totp"), ("totp", "sms"), "compliant"),
        (None, (), "not_required"),
        (None, ("sms",), "compliant"),
        (MfaRequirement(SINCE, WEEK, sso_exempts=True), (), "exempt"),
    ],
)
def test_which_factors_count(
    requirement: MfaRequirement | None, factors: tuple[str, ...], status: str
) -> None:
    later = SINCE + timedelta(days=30)
    assert compliance(requirement, member(factors=factors), later).status == status


def test_a_member_disconnected_from_sso_answers_to_the_requirement_again() -> None:
    exempting = MfaRequirement(SINCE, WEEK, sso_exempts=True)
    disconnected = member(answers_to_sso=False)
    assert compliance(exempting, disconnected, SINCE + WEEK).status == "overdue"


def test_no_grace_means_at_once() -> None:
    at_once = MfaRequirement(SINCE, timedelta(0))
    assert compliance(at_once, member(), SINCE).status == "overdue"
