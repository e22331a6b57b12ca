"""The main job: a realistic account history, told through the same commands a user runs.

Over 120 days: an organisation that requires MFA, users enrolling an authenticator app and SMS,
a wrong code, recovery codes regenerated, workspace changes. Time moves with the injected clock,
so every event carries the day it happened. Running it again shows the existing story.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp

from commands import factors, organisations, recovery_codes, sms, totp, users, workspaces
from commands.services import Services
from ledger.clock import FixedClock
from ledger.errors import InvalidMfaCode
from ledger.sms_gateway import OutboxGateway
from ledger.store import LedgerStore
from projections.queries import account_audit_log, account_mfa_status

ORG = "flero-demo"
EMAIL = "ada@flero-demo.test"
COLLEAGUE = "grace@flero-demo.test"
ADMIN = "it-admin@flero-demo.test"
FIRST_PASSWORD = "correct horse 42"  # noqa: S105 (demo data)
SECOND_PASSWORD = "battery staple 1907"  # noqa: S105 (demo data)
LAPTOP = {
    "ip": "81.2.69.160",
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
}
OFFICE = {
    "ip": "2.125.160.216",
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
}


@dataclass
class DemoStory:
    store: LedgerStore
    email: str = EMAIL

    def security_page(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "mfa": account_mfa_status(self.store, self.email),
            "audit": account_audit_log(self.store, self.email),
        }


class Storyteller:
    """Runs commands as of successive instants, like the users would have."""

    def __init__(self, store: LedgerStore, start: datetime) -> None:
        self.services = Services(store=store, clock=FixedClock(start))
        self.start = start
        self.at = start

    def on(self, day: int, hour: int, minute: int = 0) -> None:
        self.at = (self.start + timedelta(days=day)).replace(hour=hour, minute=minute)
        self.services.clock = FixedClock(self.at)

    def outbox_code(self, phone: str) -> str:
        body = OutboxGateway(self.services.store.database).messages(phone)[0]["body"]
        return next(word.rstrip(".") for word in body.split() if word.rstrip(".").isdigit())


def build_demo(store: LedgerStore) -> DemoStory:
    story = DemoStory(store)
    if store.app.find_account(store.account_id(EMAIL)) is not None:
        return story
    start = (datetime.now(UTC) - timedelta(days=120)).replace(second=0, microsecond=0)
    teller = Storyteller(store, start)
    s = teller.services

    teller.on(0, 9)
    organisations.create_organisation(s, organisations.CreateOrganisation(slug=ORG))
    for email in (ADMIN, EMAIL, COLLEAGUE):
        users.create_user(s, users.CreateUser(email=email, org=ORG, password=FIRST_PASSWORD))
    organisations.add_admin(s, organisations.AddAdmin(slug=ORG, email=ADMIN))
    workspaces.grant_workspace(
        s,
        workspaces.GrantWorkspace(
            email=EMAIL, workspace="design", role="member", actor=ADMIN, **OFFICE
        ),
    )

    # Day 2: Ada enrols her authenticator app, mistyping the first code.
    teller.on(2, 10, 15)
    secret = totp.enrol_totp(s, totp.EnrolTotp(email=EMAIL, **LAPTOP)).secret
    with contextlib.suppress(InvalidMfaCode):
        totp.confirm_totp(s, totp.ConfirmTotp(email=EMAIL, code="000000", **LAPTOP))
    teller.on(2, 10, 16)
    code = pyotp.TOTP(secret).at(teller.at)
    totp.confirm_totp(s, totp.ConfirmTotp(email=EMAIL, code=code, **LAPTOP))

    # Day 5: the organisation makes MFA mandatory.
    teller.on(5, 8)
    organisations.require_mfa(s, organisations.RequireMfa(slug=ORG, required=True, actor=ADMIN))

    # Day 20: Ada adds SMS as a backup factor.
    teller.on(20, 14, 30)
    phone = "+447911123456"
    sms.enrol_sms(s, sms.EnrolSms(email=EMAIL, phone=phone, **LAPTOP))
    teller.on(20, 14, 32)
    sms.confirm_sms(s, sms.ConfirmSms(email=EMAIL, code=teller.outbox_code(phone), **LAPTOP))

    # Day 64: a promotion, and the password changes.
    teller.on(64, 11)
    workspaces.grant_workspace(
        s,
        workspaces.GrantWorkspace(
            email=EMAIL, workspace="design", role="admin", actor=ADMIN, **OFFICE
        ),
    )
    workspaces.grant_workspace(
        s,
        workspaces.GrantWorkspace(
            email=EMAIL, workspace="research", role="member", actor=ADMIN, **OFFICE
        ),
    )
    users.set_password(s, users.SetPassword(email=EMAIL, password=SECOND_PASSWORD, **OFFICE))

    # Day 101: recovery codes regenerated after one was used; SMS dropped, then re-added.
    teller.on(101, 16, 45)
    recovery_codes.regenerate_recovery_codes(
        s, recovery_codes.RegenerateRecoveryCodes(email=EMAIL, **LAPTOP)
    )
    factors.disable_factor(s, factors.DisableFactor(email=EMAIL, factor="sms", **LAPTOP))
    teller.on(110, 9, 5)
    workspaces.revoke_workspace(
        s, workspaces.RevokeWorkspace(email=EMAIL, workspace="research", actor=ADMIN, **OFFICE)
    )
    teller.on(118, 19, 20)
    sms.enrol_sms(s, sms.EnrolSms(email=EMAIL, phone=phone, **LAPTOP))
    teller.on(118, 19, 21)
    sms.confirm_sms(s, sms.ConfirmSms(email=EMAIL, code=teller.outbox_code(phone), **LAPTOP))
    return story
