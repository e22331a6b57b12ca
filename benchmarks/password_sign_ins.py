"""Password sign-ins per second on one core, before and after the argon2id parameter change.

Accounts whose password hashes were made with argon2-cffi's defaults (t=3, 64 MiB, p=4: what
`user create` used before ledger.passwords took OWASP's parameters) sign in with their password
through `commands.login`, one after another, on one core: the first sign-in checks the old hash
and replaces it (`needs_rehash`); the second checks the new one. Sign-ins per second for each.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher

from commands import login, organisations, users
from commands.services import Services
from ledger.clock import SystemClock
from ledger.events import Context
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation

OLD_DEFAULTS = PasswordHasher()  # argon2-cffi's own: t=3, m=64 MiB, p=4
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway benchmark account's)
UA = "bench/1.0"


@contextmanager
def one_core() -> Iterator[None]:
    """This process (and argon2's lanes, its threads) on one core, where the OS allows it."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def measure(url: str, accounts: int) -> tuple[float, float]:
    """Sign-ins per second on one core: on hashes made with the old defaults (each replaced as
    it signs in), then on the hashes that replaced them."""
    location = StoreLocation.parse(url)
    initialise_schema(location)
    store = LedgerStore(location)
    services = Services(store=store, clock=SystemClock())
    org = f"pw-{secrets.token_hex(4)}"
    organisations.create_organisation(services, organisations.CreateOrganisation(slug=org))
    emails = [f"user{i}@{org}.test" for i in range(accounts)]
    for email in emails:
        users.create_user(services, users.CreateUser(email=email, org=org))
        account = store.account(email)
        account.change_password(OLD_DEFAULTS.hash(PASSWORD), False, services.stamp_for(Context()))
        services.save(account)
    with one_core():
        old = _sign_ins_per_second(services, emails)
        new = _sign_ins_per_second(services, emails)
    store.close()
    return old, new


def _sign_ins_per_second(services: Services, emails: list[str]) -> float:
    started = time.perf_counter()
    for email in emails:
        command = login.Login(
            email=email, method="password", password=PASSWORD, ip="81.2.69.160", user_agent=UA
        )
        login.log_in(services, command)
    return len(emails) / (time.perf_counter() - started)
