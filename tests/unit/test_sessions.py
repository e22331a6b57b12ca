"""Session rules in memory: an account, a clock and a fake sealer; no store.

Each sign-in opens a session of its own (ledger.session); the account records the attempt and
whatever ends sessions, and stays the same size however many sessions it has opened.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pyotp
import pytest

from ledger.account import Account
from ledger.errors import FreshFactorRequired, SessionExpired, UnknownSession
from ledger.events import Context, Stamp
from ledger.session import Session
from ledger.sign_in import Client, NewSession, SignInAttempt

T0 = datetime(2026, 11, 14, 9, 0, tzinfo=UTC)
CLIENT = Client(ip="203.0.113.9", browser="Firefox 127", os="Linux")


class FakeSealer:
    """Seals in the clear, tagged with the owner: enough to see what goes where."""

    def seal(self, owner: UUID, plaintext: str) -> str:
        return f"sealed:{owner}:{plaintext}"

    def open(self, sealed: str) -> str | None:
        return sealed.split(":", 2)[2]

    def keyed_hash(self, owner: UUID, value: str) -> str:
        return hashlib.sha256(f"{owner}:{value}".encode()).hexdigest()


def stamp(at: datetime) -> Stamp:
    return Stamp(at=at, context=Context(), sealer=FakeSealer())


def new_account() -> tuple[Account, str]:
    """An account with one API key; returns the account and the key."""
    account = Account.create(uuid4(), uuid4(), "robot@acme.test", None, stamp(T0))
    key = account.create_api_key("nightly", stamp(T0)).secret
    return account, key


def sign_in_with(account: Account, key: str, at: datetime) -> NewSession:
    attempt = SignInAttempt(method="api_key", client=CLIENT, api_key=key)
    return account.log_in(attempt, None, stamp(at))


def test_a_sign_in_opens_a_session_of_its_own_and_the_account_keeps_no_token() -> None:
    account, key = new_account()

    new = sign_in_with(account, key, T0)

    signed_in = account.collect_events()[-1]
    assert isinstance(signed_in, Account.LoginSucceeded)
    assert signed_in.token_hash is None and signed_in.session_id == new.session_id
    opened = new.opened.collect_events()
    assert [type(e) for e in opened] == [Session.Opened]
    assert opened[0].account_id == account.id and opened[0].key_id is not None
    assert opened[0].account_version == signed_in.originator_version
    assert account.sessions == {}


def test_an_api_key_session_idles_out_after_an_hour_recording_activity_every_five_minutes() -> None:
    account, key = new_account()
    new = sign_in_with(account, key, T0)
    session = new.opened
    session.collect_events()

    session.check(new.token, account.session_standing(), stamp(T0 + timedelta(minutes=4)))
    assert session.collect_events() == []  # under five minutes: nothing recorded
    session.check(new.token, account.session_standing(), stamp(T0 + timedelta(minutes=59)))
    assert [type(e) for e in session.collect_events()] == [Session.ActivityRecorded]
    with pytest.raises(SessionExpired, match="1 hour"):
        session.check(new.token, account.session_standing(), stamp(T0 + timedelta(minutes=120)))


def test_a_wrong_token_is_unknown_and_records_nothing() -> None:
    account, key = new_account()
    session = sign_in_with(account, key, T0).opened
    session.collect_events()

    with pytest.raises(UnknownSession):
        session.check("fls.not.the.token", account.session_standing(), stamp(T0))
    assert session.collect_events() == []


def test_revoking_the_key_ends_the_sessions_it_opened_and_no_others() -> None:
    account, key = new_account()
    other_key = account.create_api_key("deploy", stamp(T0)).secret
    by_key = sign_in_with(account, key, T0)
    by_other = sign_in_with(account, other_key, T0)

    account.revoke_api_key(key.split(".")[1], stamp(T0 + timedelta(minutes=1)))

    later = stamp(T0 + timedelta(minutes=2))
    with pytest.raises(UnknownSession):
        by_key.opened.check(by_key.token, account.session_standing(), later)
    by_other.opened.check(by_other.token, account.session_standing(), later)


def test_signing_out_the_others_ends_sessions_opened_before_it_but_the_kept_one() -> None:
    account, key = new_account()
    kept, ended = sign_in_with(account, key, T0), sign_in_with(account, key, T0)
    at = T0 + timedelta(minutes=1)

    account.sign_out_other_sessions(kept.session_id, kept.opened, stamp(at))
    after = sign_in_with(account, key, at)

    standing = account.session_standing()
    assert kept.opened.is_active(at, standing) and after.opened.is_active(at, standing)
    assert not ended.opened.is_active(at, standing)


def test_the_session_to_keep_must_be_active() -> None:
    account, key = new_account()
    gone = sign_in_with(account, key, T0)
    gone.opened.sign_out(account.session_standing(), stamp(T0))

    with pytest.raises(UnknownSession):
        account.sign_out_other_sessions(gone.session_id, gone.opened, stamp(T0))
    assert not any(isinstance(e, Account.OtherSessionsSignedOut) for e in account.collect_events())


def test_an_erased_account_has_no_active_session() -> None:
    account, key = new_account()
    new = sign_in_with(account, key, T0)

    account.erase(by_org_admin=True, stamp=stamp(T0))

    assert not new.opened.is_active(T0, account.session_standing())


def test_the_account_stays_the_same_size_however_many_sessions_it_opened() -> None:
    account, key = new_account()

    def size_after(sign_ins: int) -> int:
        start = account.modified_on
        for n in range(sign_ins):
            sign_in_with(account, key, start + timedelta(seconds=n + 1))
        state = {k: v for k, v in vars(account).items() if not k.startswith("_")}
        return len(json.dumps(state, default=str))

    small = size_after(10)
    assert size_after(2_000) - small < 16  # a version number's digits, no more


# ---- step-up belongs to the session (issue 13) --------------------------------------------------


def test_a_sensitive_change_needs_this_sessions_own_proof_within_ten_minutes() -> None:
    account, key = new_account()
    mine, other = sign_in_with(account, key, T0).opened, sign_in_with(account, key, T0).opened
    mine.collect_events()

    other.prove_factor("totp", stamp(T0 + timedelta(minutes=30)))  # another session's proof
    with pytest.raises(FreshFactorRequired):
        mine.require_step_up("create_api_key", True, stamp(T0 + timedelta(minutes=31)))
    assert [type(e) for e in mine.collect_events()] == [Session.StepUpRefused]

    mine.prove_factor("recovery_code", stamp(T0 + timedelta(minutes=32)))
    mine.require_step_up("create_api_key", True, stamp(T0 + timedelta(minutes=42)))
    with pytest.raises(FreshFactorRequired):
        mine.require_step_up("create_api_key", True, stamp(T0 + timedelta(minutes=42, seconds=1)))


def test_enrolling_a_factor_is_no_step_up_for_the_session_that_enrolled_it() -> None:
    account, key = new_account()
    session = sign_in_with(account, key, T0).opened
    secret = account.start_totp_enrolment(stamp(T0))
    account.confirm_totp(totp_now(secret, T0), stamp(T0))

    with pytest.raises(FreshFactorRequired):
        session.require_step_up("disable_factor", bool(account.enabled_factors), stamp(T0))


def test_without_any_factor_a_recent_sign_in_is_the_proof() -> None:
    account, key = new_account()
    session = sign_in_with(account, key, T0).opened

    session.require_step_up("create_api_key", False, stamp(T0 + timedelta(minutes=10)))
    with pytest.raises(FreshFactorRequired):
        session.require_step_up("create_api_key", False, stamp(T0 + timedelta(minutes=11)))


def totp_now(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)
