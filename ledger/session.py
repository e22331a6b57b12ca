"""A session: one signed-in browser, device or API client, as a stream of its own.

A successful sign-in records the attempt on the account and opens the session here, in the
same save. The session records its activity (at most every five minutes) and its sign-out; it
ends on its own when idle past its limit (30 days; one hour when an API key opened it, so that
automation cannot pile sessions up). The account's own decisions end it too, without a word
recorded here: every other session signed out, the API key that opened it revoked, the account
erased (`Standing`). Kept apart from the account, sessions cost a command on the account
nothing, however many of them it has opened.

Step-up belongs to the session: a sensitive change made from it (disable a factor, regenerate
recovery codes, enrol a factor beside an existing one, create an API key, change the password
or the alert settings) needs this session to have proven one of the account's factors in the
last ten minutes — at sign-in, or since (`FactorProved`); without any factor, its sign-in in the
last ten minutes. Another session's proof, or enrolling a new factor, never counts. A refusal
is recorded (`StepUpRefused`).

When the organisation requires MFA and the account's deadline to enrol has passed, a password
session may only enrol a factor and sign out (`Standing.restricts`); enrolling lifts it. A
session an API key opened never enrols a factor at all.

The account's time index files these events under the account as well (`ledger.chain`), so
that `timeline`, `state --as-of` and exports find them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from ledger import credentials
from ledger.aggregate import LedgerAggregate, refuse_back_dating
from ledger.errors import (
    FreshFactorRequired,
    MfaEnrolmentRequired,
    SessionExpired,
    UnknownSession,
)
from ledger.events import LedgerCreatedEvent, LedgerEvent, Stamp

Method = Literal["password", "sso", "api_key"]
SignInFactor = Literal["totp", "sms", "recovery_code", "idp"]

IDLE_LIMIT = timedelta(days=30)
API_KEY_IDLE_LIMIT = timedelta(hours=1)
ACTIVITY_GRANULARITY = timedelta(minutes=5)
STEP_UP_WINDOW = timedelta(minutes=10)  # how recent the session's proof must be for a change
NOT_ACTIVE = "that session is not active (signed out, or unknown)"


def idle_limit_for(opened_by: Method) -> timedelta:
    return API_KEY_IDLE_LIMIT if opened_by == "api_key" else IDLE_LIMIT


def describe_limit(limit: timedelta) -> str:
    hours = int(limit.total_seconds()) // 3600
    return f"{hours // 24} days" if hours >= 24 else f"{hours} hour{'s' if hours > 1 else ''}"


@dataclass(frozen=True)
class Standing:
    """What the account decided about its sessions, as far as one session is concerned, and
    when it last recorded anything (a session's events are never back-dated before it)."""

    last_recorded: datetime
    erased: bool = False
    cut_off: int | None = None  # sessions opened before this account version ended...
    kept: str | None = None  # ...except this one
    revoked_keys: frozenset[str] = frozenset()
    sso_only_since: datetime | None = None  # SSO enforcement began: other sessions before end
    # The organisation requires MFA and the account has no factor that counts: from this
    # instant its password sessions are restricted to enrolling one (ledger.mfa_requirement).
    enrolment_deadline: datetime | None = None

    def ends(self, session: Session) -> bool:
        signed_out_elsewhere = (
            self.cut_off is not None
            and session.account_version < self.cut_off
            and session.session_id != self.kept
        )
        key_revoked = session.key_id is not None and session.key_id in self.revoked_keys
        before_sso = (
            self.sso_only_since is not None
            and session.opened_by != "sso"
            and session.created_on <= self.sso_only_since
        )
        return self.erased or signed_out_elsewhere or key_revoked or before_sso

    def restricts(self, session: Session, at: datetime) -> bool:
        """Whether `session` may only enrol a factor and sign out at `at`. Only password
        sessions: SSO sign-ins answer to the organisation's SSO MFA mode, and an API key proves
        a key, not a person."""
        deadline = self.enrolment_deadline
        return session.opened_by == "password" and deadline is not None and at >= deadline


class Session(LedgerAggregate):
    class Event(LedgerEvent):
        account_id: UUID  # the account it belongs to (the time index files it there too)
        session_id: str  # what the user sees, and names to sign it out

    class Opened(LedgerCreatedEvent, Event):
        token_hash: str
        opened_by: Method
        key_id: str | None  # the API key that opened it
        factor: SignInFactor | None
        client: str  # sealed ledger.sign_in.Client
        idle_limit: int  # seconds without activity after which it ends
        account_version: int  # the account's event that recorded the sign-in
        # Opened restricted to enrolling a factor (ledger.mfa_requirement.RESTRICTED). What
        # restricts it later is the account's standing: enrolling lifts it at once.
        restricted: str | None = None

    class ActivityRecorded(Event):
        def apply(self, session: Session) -> None:
            session.last_activity = self.timestamp

    class SignedOut(Event):
        def apply(self, session: Session) -> None:
            session.signed_out = True

    class FactorProved(Event):
        """The session's user entered a code of a factor the account already had."""

        factor: SignInFactor

        def apply(self, session: Session) -> None:
            session.proved_at = self.timestamp

    class StepUpRefused(Event):
        """A sensitive change was asked of the session without a recent proof."""

        action: str

    def __init__(
        self,
        account_id: UUID,
        session_id: str,
        token_hash: str,
        opened_by: Method,
        key_id: str | None,
        factor: SignInFactor | None,
        client: str,
        idle_limit: int,
        account_version: int,
        timestamp: datetime,
        restricted: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.session_id = session_id
        self.token_hash = token_hash
        self.opened_by = opened_by
        self.key_id = key_id
        self.factor = factor
        self.client = client
        self.idle_limit = timedelta(seconds=idle_limit)
        self.account_version = account_version
        self.last_activity = timestamp
        self.signed_out = False
        self.proved_at = timestamp if factor is not None else None  # the sign-in's own factor

    @classmethod
    def open(
        cls,
        stream_id: UUID,
        account_id: UUID,
        account_version: int,
        issued: credentials.IssuedSecret,
        opened_by: Method,
        key_id: str | None,
        factor: SignInFactor | None,
        client: str,
        stamp: Stamp,
        restricted: str | None = None,
    ) -> Session:
        return cls._create(
            cls.Opened,
            id=stream_id,
            account_id=account_id,
            session_id=issued.public_id,
            token_hash=issued.secret_hash,
            opened_by=opened_by,
            key_id=key_id,
            factor=factor,
            client=client,
            idle_limit=int(idle_limit_for(opened_by).total_seconds()),
            account_version=account_version,
            restricted=restricted,
            timestamp=stamp.at,
            **stamp.context_fields(account_id),
        )

    def is_active(self, at: datetime, standing: Standing) -> bool:
        return not (self.signed_out or self._idle(at) or standing.ends(self))

    def check(self, token: str, standing: Standing, stamp: Stamp, enrolling: bool = False) -> bool:
        """A valid token of an active session; records activity at most every five minutes.
        Returns whether the session is restricted to enrolling a factor; unless `enrolling`
        (what it is checked for is enrolment or signing out), a restricted one is refused.

        Asked at an instant before the session's or its account's last event (`--now`
        back-dated), it is refused even when nothing would be recorded: an expired session
        stays expired."""
        self._check_clock(stamp.at, standing)
        if not credentials.matches(token, self.token_hash) or self.signed_out:
            raise UnknownSession(NOT_ACTIVE)
        if standing.ends(self):
            raise UnknownSession(NOT_ACTIVE)
        if self._idle(stamp.at):
            raise SessionExpired(
                f"that session expired after {describe_limit(self.idle_limit)} without activity"
            )
        restricted = standing.restricts(self, stamp.at)
        if restricted and not enrolling:
            raise MfaEnrolmentRequired(
                "your organisation requires MFA: enrol a second factor before anything else"
            )
        if stamp.at - self.last_activity >= ACTIVITY_GRANULARITY:
            self._record(self.ActivityRecorded, stamp)
        return restricted

    def sign_out(self, standing: Standing, stamp: Stamp) -> None:
        self._check_clock(stamp.at, standing)
        if not self.is_active(stamp.at, standing):
            raise UnknownSession(f"no active session {self.session_id!r} on this account")
        self._record(self.SignedOut, stamp)

    def require_step_up(self, action: str, account_has_factors: bool, stamp: Stamp) -> None:
        """Refuse (and record it) unless this session proved a factor in the last ten minutes.
        For an account with no factor to prove, its sign-in is the proof: a recent one."""
        proved = self.proved_at if account_has_factors else self.proved_at or self.created_on
        if proved is None or stamp.at - proved > STEP_UP_WINDOW:
            self._record(self.StepUpRefused, stamp, action=action)
            raise FreshFactorRequired(
                "confirm it is you: enter a code from your authenticator app, a texted code "
                "or a recovery code, then try again"
            )

    def require_signed_in_person(self, action: str, stamp: Stamp) -> None:
        """Refuse (and record it) when an API key opened this session: it proves a key, not
        the person who would enrol a factor."""
        if self.opened_by == "api_key":
            self._record(self.StepUpRefused, stamp, action=action)
            raise FreshFactorRequired(
                "an API key cannot enrol a second factor: sign in with your password first"
            )

    def prove_factor(self, factor: SignInFactor, stamp: Stamp) -> None:
        self._record(self.FactorProved, stamp, factor=factor)

    def _check_clock(self, at: datetime, standing: Standing) -> None:
        self.check_clock(at)
        refuse_back_dating(at, standing.last_recorded)

    def _idle(self, at: datetime) -> bool:
        return at - self.last_activity > self.idle_limit

    def _record(self, event_class: type[LedgerEvent], stamp: Stamp, **fields: object) -> None:
        """As every aggregate records, but sealed and filed under the account it belongs to."""
        self.check_clock(stamp.at)
        self.trigger_event(
            event_class,
            timestamp=stamp.at,
            account_id=self.account_id,
            session_id=self.session_id,
            **stamp.context_fields(self.account_id),
            **fields,
        )
