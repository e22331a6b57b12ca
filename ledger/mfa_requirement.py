"""An organisation's MFA requirement, and where one member stands against it.

When an organisation begins requiring MFA, every member without a factor that counts gets a
grace period: until the requirement's start plus the grace days, or, for someone who joined
after it began, their first sign-in plus the grace days. During grace a password sign-in
succeeds and says by when to enrol; after it, a password sign-in opens a session restricted to
enrolling a factor and signing out, until the member has one. With `methods="totp"` only the
authenticator app counts (texted codes can be intercepted). Members whose organisation signs
them in through SSO, with the identity provider doing MFA, answer to the provider instead.

The rule is pure: the organisation supplies the requirement, the account its own facts, and
the same function answers a sign-in now and the compliance report at any past instant.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

MfaMethods = Literal["any", "totp"]
ComplianceStatus = Literal["compliant", "grace", "overdue", "exempt", "not_required"]

DEFAULT_GRACE_DAYS = 7
MAX_GRACE_DAYS = 365
RESTRICTED = "mfa_enrolment_required"  # what a restricted session answers, and is recorded as


@dataclass(frozen=True)
class MfaRequirement:
    since: datetime  # when the organisation last began requiring MFA
    grace: timedelta
    methods: MfaMethods = "any"
    sso_exempts: bool = False  # SSO is enforced and the identity provider does the MFA

    def counts(self, factors: Collection[str]) -> bool:
        """Whether these enabled factors meet the requirement."""
        return "totp" in factors if self.methods == "totp" else bool(factors)


@dataclass(frozen=True)
class MemberFacts:
    """What the rule needs to know about one member, from their account."""

    joined_at: datetime
    first_signed_in_at: datetime | None
    factors: tuple[str, ...]
    answers_to_sso: bool  # not disconnected from the organisation's SSO


@dataclass(frozen=True)
class Compliance:
    status: ComplianceStatus
    # By when the member must have enrolled; None when nothing is owed, or for a member who
    # joined after the requirement began and has not signed in yet (their grace has not begun).
    deadline: datetime | None = None

    @property
    def overdue(self) -> bool:
        return self.status == "overdue"


def compliance(requirement: MfaRequirement | None, member: MemberFacts, at: datetime) -> Compliance:
    """Where `member` stands at `at` against `requirement` (None: the organisation requires
    nothing)."""
    if requirement is None:
        return Compliance("compliant" if member.factors else "not_required")
    if requirement.sso_exempts and member.answers_to_sso:
        return Compliance("exempt")
    if requirement.counts(member.factors):
        return Compliance("compliant")
    deadline = deadline_for(requirement, member)
    if deadline is None or at < deadline:
        return Compliance("grace", deadline)
    return Compliance("overdue", deadline)


def deadline_for(requirement: MfaRequirement, member: MemberFacts) -> datetime | None:
    if member.joined_at <= requirement.since:
        return requirement.since + requirement.grace
    if member.first_signed_in_at is None:
        return None
    return member.first_signed_in_at + requirement.grace
