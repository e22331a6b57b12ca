"""The main job: a realistic account history, told through the same commands a user runs.

Over 120 days: an organisation that requires MFA; Ada enrols an authenticator app (mistyping
once), adds SMS, signs in from her laptop, the office and her phone, in several countries; a
stranger guesses her password; she signs out her lost phone, changes her password, signs in with
a recovery code and regenerates the set; the organisation adds single sign-on through its
identity provider (a demo one, whose keys are pinned), and she signs in with it; an API key for
CI. The organisation's MFA requirement gives members a week to enrol: its admin does, a
colleague never does (overdue, so her next password sign-in may only enrol), and a newcomer who
joined three days ago is inside her grace period. Time moves with the injected clock, so every
event carries the day it happened. Running it again shows the existing story.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
from joserfc import jwt
from joserfc.jwk import ECKey

from commands import (
    api_keys,
    factors,
    login,
    organisations,
    recovery_codes,
    sessions,
    sms,
    totp,
    users,
    workspaces,
)
from commands.services import Services
from ledger.clock import FixedClock, SystemClock
from ledger.errors import InvalidMfaCode, LoginDenied
from ledger.organisation import SsoMfaMode
from ledger.sign_in import NewSession
from ledger.sms_gateway import OutboxGateway
from ledger.store import LedgerStore
from projections.compliance import compliance_report
from projections.queries import (
    account_alerts,
    account_audit_log,
    account_login_history,
    account_mfa_status,
    account_sessions,
)

ORG = "flero-demo"
EMAIL = "ada@flero-demo.test"
COLLEAGUE = "grace@flero-demo.test"
ADMIN = "it-admin@flero-demo.test"
NEWCOMER = "lin@flero-demo.test"
PHONE = "+447911123456"
FIRST_PASSWORD = "correct horse 42"  # noqa: S105 (demo data)
SECOND_PASSWORD = "battery staple 1907"  # noqa: S105 (demo data)
LAPTOP = {
    "ip": "81.2.69.160",  # United Kingdom
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
}
OFFICE = {
    "ip": "2.125.160.216",  # United Kingdom
    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
}
PHONE_BROWSER = {
    "ip": "216.160.83.56",  # United States, on a work trip
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
}
STRANGER = {
    "ip": "89.160.20.112",  # Sweden
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
}
CI_RUNNER = {"ip": "175.16.199.1", "user_agent": "curl/8.4.0"}  # China
DEMO_IDP = "https://idp.flero-demo.test"
DEMO_CLIENT_ID = "flero-ledger"


@dataclass
class DemoStory:
    store: LedgerStore
    email: str = EMAIL
    org: str = ORG
    # The story's browser sessions, tokens and all: known only when the story was just told.
    sessions: dict[str, NewSession] = field(default_factory=dict)

    def security_page(self) -> dict[str, Any]:
        now = SystemClock().now()
        return {
            "email": self.email,
            "org_compliance": compliance_report(self.store, ORG, now).members,
            "mfa": account_mfa_status(self.store, self.email),
            "sessions": account_sessions(self.store, self.email, now).sessions,
            "history": account_login_history(self.store, self.email, now, 90),
            "alerts": account_alerts(self.store, self.email),
            "audit": account_audit_log(self.store, self.email),
        }


@dataclass
class DemoIdentityProvider:
    """Stands in for the organisation's OpenID provider: it signs ID tokens with its own key,
    which the organisation pins (`org sso --jwks-file`), so the demo needs no network."""

    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", {"kid": "demo-1"}))

    def public_keys(self) -> str:
        return json.dumps({"keys": [self.key.as_dict(private=False)]})

    def sign_in_for(
        self, slug: str, mfa_mode: SsoMfaMode, enforced: bool, **actor: str
    ) -> organisations.ConfigureSso:
        """The organisation's SSO set-up through this provider, its keys pinned."""
        return organisations.ConfigureSso(
            slug=slug,
            idp="okta",
            mfa_mode=mfa_mode,
            enforced=enforced,
            issuer=DEMO_IDP,
            client_id=DEMO_CLIENT_ID,
            pinned_keys=self.public_keys(),
            **actor,
        )

    def id_token(self, email: str, at: datetime) -> str:
        claims = {
            "iss": DEMO_IDP,
            "aud": DEMO_CLIENT_ID,
            "sub": "00u" + hashlib.sha256(email.encode()).hexdigest()[:17],  # opaque, stable
            "email": email,
            "email_verified": True,
            "amr": ["pwd", "otp"],
            "iat": int(at.timestamp()),
            "exp": int((at + timedelta(minutes=5)).timestamp()),
        }
        return jwt.encode({"alg": "ES256", "kid": "demo-1"}, claims, self.key, ["ES256"])


@dataclass
class Storyteller:
    """Runs commands as of successive instants, like the users would have."""

    services: Services
    start: datetime
    secret: str = ""
    sessions: dict[str, NewSession] = field(default_factory=dict)

    def on(self, day: int, hour: int, minute: int = 0) -> None:
        at = (self.start + timedelta(days=day)).replace(hour=hour, minute=minute)
        self.services.clock = FixedClock(at)

    def texted_code(self) -> str:
        body = OutboxGateway(self.services.store.database).messages(PHONE)[0]["body"]
        return next(word.rstrip(".") for word in body.split() if word.rstrip(".").isdigit())

    def sign_in(self, name: str, client: dict[str, str], password: str, **factor: str) -> None:
        """A sign-in as the user would attempt it; a refusal is part of the story too."""
        if factor.get("totp") == "now":
            factor["totp"] = pyotp.TOTP(self.secret).at(self.services.now())
        attempt = login.Login(email=EMAIL, method="password", password=password, **client, **factor)
        with contextlib.suppress(LoginDenied):
            self.sessions[name] = login.log_in(self.services, attempt)


def build_demo(store: LedgerStore) -> DemoStory:
    story = DemoStory(store)
    if store.app.find_account(store.account_id(EMAIL)) is None:
        start = (datetime.now(UTC) - timedelta(days=120)).replace(second=0, microsecond=0)
        teller = Storyteller(Services(store=store, clock=FixedClock(start)), start)
        tell(teller)
        story.sessions = teller.sessions
    return story


def tell(t: Storyteller) -> None:
    s = t.services
    t.on(0, 9)
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
    t.on(0, 9, 30)
    t.sign_in("laptop", LAPTOP, FIRST_PASSWORD)

    # Day 2: Ada enrols her authenticator app, mistyping the first code.
    t.on(2, 10, 15)
    t.secret = totp.enrol_totp(s, totp.EnrolTotp(email=EMAIL, **LAPTOP)).secret
    with contextlib.suppress(InvalidMfaCode):
        totp.confirm_totp(s, totp.ConfirmTotp(email=EMAIL, code="000000", **LAPTOP))
    t.on(2, 10, 16)
    code = pyotp.TOTP(t.secret).at(s.now())
    totp.confirm_totp(s, totp.ConfirmTotp(email=EMAIL, code=code, **LAPTOP))

    # Day 5: the organisation makes MFA mandatory, with a week's grace to enrol; its admin does.
    t.on(5, 8)
    organisations.require_mfa(s, organisations.RequireMfa(slug=ORG, required=True, actor=ADMIN))
    t.on(5, 8, 30)
    admin_secret = totp.enrol_totp(s, totp.EnrolTotp(email=ADMIN, **OFFICE)).secret
    admin_code = pyotp.TOTP(admin_secret).at(s.now())
    totp.confirm_totp(s, totp.ConfirmTotp(email=ADMIN, code=admin_code, **OFFICE))
    t.on(5, 9, 2)
    t.sign_in("office", OFFICE, FIRST_PASSWORD, totp="now")

    # Day 20: SMS as a backup factor.
    t.on(20, 14, 30)
    sms.enrol_sms(s, sms.EnrolSms(email=EMAIL, phone=PHONE, **LAPTOP))
    t.on(20, 14, 32)
    sms.confirm_sms(s, sms.ConfirmSms(email=EMAIL, code=t.texted_code(), **LAPTOP))

    # Day 40: a work trip; she signs in on her phone with a texted code.
    t.on(40, 16, 10)
    sms.send_sms_login_code(s, sms.SendSmsCode(email=EMAIL, **PHONE_BROWSER))
    t.on(40, 16, 11)
    t.sign_in("phone", PHONE_BROWSER, FIRST_PASSWORD, sms=t.texted_code())

    # Day 47: somebody guesses her password from abroad; the alert goes out once per burst.
    for minute in (2, 3, 5, 31):
        t.on(47, 3, minute)
        t.sign_in("stranger", STRANGER, f"guess number {minute}")

    # Day 48: the phone is lost. She signs it out, and changes her password everywhere else.
    t.on(48, 8, 40)
    sessions.revoke_session(
        s, sessions.RevokeSession(email=EMAIL, session_id=t.sessions["phone"].session_id, **LAPTOP)
    )
    t.on(48, 8, 45)
    users.set_password(s, users.SetPassword(email=EMAIL, password=SECOND_PASSWORD, **LAPTOP))

    # Day 64: a promotion.
    t.on(64, 11)
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

    # Day 70: the organisation adds single sign-on; Ada signs in through it (the IdP did MFA).
    t.on(70, 9)
    idp = DemoIdentityProvider()
    organisations.configure_sso(s, idp.sign_in_for(ORG, "idp", enforced=False, actor=ADMIN))
    t.on(70, 9, 5)
    sso = login.Login(email=EMAIL, method="sso", id_token=idp.id_token(EMAIL, s.now()), **OFFICE)
    t.sessions["sso"] = login.log_in(s, sso)

    # Day 101: her authenticator is not at hand: a recovery code, then a fresh set.
    t.on(101, 16, 40)
    codes = recovery_codes.regenerate_recovery_codes(
        s, recovery_codes.RegenerateRecoveryCodes(email=EMAIL, **LAPTOP)
    )
    t.on(101, 16, 44)
    t.sign_in("laptop", LAPTOP, SECOND_PASSWORD, recovery_code=codes[0])
    t.on(101, 16, 45)
    recovery_codes.regenerate_recovery_codes(
        s, recovery_codes.RegenerateRecoveryCodes(email=EMAIL, **LAPTOP)
    )

    # Day 110: the research workspace closes; SMS is re-enrolled on the new phone.
    t.on(110, 9, 5)
    workspaces.revoke_workspace(
        s, workspaces.RevokeWorkspace(email=EMAIL, workspace="research", actor=ADMIN, **OFFICE)
    )
    factors.disable_factor(s, factors.DisableFactor(email=EMAIL, factor="sms", **LAPTOP))
    t.on(110, 9, 20)
    sms.enrol_sms(s, sms.EnrolSms(email=EMAIL, phone=PHONE, **LAPTOP))
    t.on(110, 9, 21)
    sms.confirm_sms(s, sms.ConfirmSms(email=EMAIL, code=t.texted_code(), **LAPTOP))

    # Days 112-119: everyday sign-ins, and an API key for the CI pipeline.
    t.on(112, 10)
    key = api_keys.create_api_key(s, api_keys.CreateApiKey(email=EMAIL, name="ci", **LAPTOP))
    ci_sign_in = login.Login(email=EMAIL, method="api_key", api_key=key.secret, **CI_RUNNER)
    everyday = [
        (113, CI_RUNNER),
        (114, OFFICE),
        (116, CI_RUNNER),
        (117, LAPTOP),
        (119, CI_RUNNER),
        (119, OFFICE),
    ]
    for day, client in everyday:
        if client is CI_RUNNER:
            t.on(day, 2)
            login.log_in(s, ci_sign_in)
        else:
            t.on(day, 9)
            t.sign_in(f"day{day}", client, SECOND_PASSWORD, totp="now")

    # Day 119: a newcomer joins and signs in: her week to enrol starts now.
    t.on(119, 11)
    users.create_user(
        s, users.CreateUser(email=NEWCOMER, org=ORG, password=FIRST_PASSWORD, actor=ADMIN)
    )
    t.on(119, 11, 30)
    newcomer = login.Login(email=NEWCOMER, method="password", password=FIRST_PASSWORD, **OFFICE)
    login.log_in(s, newcomer)
