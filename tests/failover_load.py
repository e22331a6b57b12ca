"""Client processes that sign in continuously while the cluster fails over under them.

Each client has two accounts of its own: one signs in with an API key (every tenth attempt with
a wrong key), the other with a password and a TOTP code, twice per 30-second step: once with the
new code (accepted) and once more with the same code (refused: used). An attempt the client saw
fail with an error (the store unavailable) is tried again with the same secrets, the same code
included, as a real client would. Every attempt carries a user agent naming it, so that the test
can find it in the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyotp

from commands.login import Login, log_in
from commands.services import Services
from ledger.clock import SystemClock
from ledger.errors import LoginDenied
from ledger.store import LedgerStore
from ledger.store_location import StoreLocation

WRONG_KEY = "flk_" + "0" * 40
PAUSE = 0.05  # seconds between two rounds of a client


@dataclass(frozen=True)
class LoadClient:
    number: int
    url: str
    stop_file: str
    key_email: str
    api_key: str
    totp_email: str
    password: str
    totp_secret: str

    @property
    def ip(self) -> str:
        return f"81.2.69.{160 + self.number}"


@dataclass(frozen=True)
class Attempt:
    user_agent: str
    email: str
    answer: str  # "success", "failed" (a recorded refusal) or "error" (no answer)
    started: float  # time.monotonic() when sent
    at: float  # time.monotonic() when answered
    totp_step: int | None = None


def run(client: LoadClient) -> list[Attempt]:
    """Sign in until the stop file appears; every attempt with what the client was told."""
    store = LedgerStore(StoreLocation.parse(client.url))
    services = Services(store=store, clock=SystemClock())
    attempts: list[Attempt] = []
    totp = pyotp.TOTP(client.totp_secret)
    tried_steps: dict[int, int] = {}  # step -> answered attempts with its code
    n = 0
    while not Path(client.stop_file).exists():
        n += 1
        key = WRONG_KEY if n % 10 == 0 else client.api_key
        attempts.append(
            _attempt(services, client, n, client.key_email, method="api_key", api_key=key)
        )
        step = int(time.time() // 30)
        if tried_steps.get(step, 0) < 2:
            done = _attempt(
                services,
                client,
                n,
                client.totp_email,
                method="password",
                password=client.password,
                totp=totp.at(step * 30),
                step=step,
            )
            attempts.append(done)
            if done.answer != "error":
                tried_steps[step] = tried_steps.get(step, 0) + 1
        time.sleep(PAUSE)
    store.close()
    return attempts


def _attempt(
    services: Services,
    client: LoadClient,
    n: int,
    email: str,
    step: int | None = None,
    **secrets: str,
) -> Attempt:
    user_agent = f"failover-test/{client.number}/{n}/{secrets['method']}"
    command = Login(email=email, ip=client.ip, user_agent=user_agent, **secrets)  # type: ignore[arg-type]
    started = time.monotonic()
    try:
        log_in(services, command)
        answer = "success"
    except LoginDenied:
        answer = "failed"
    except Exception:  # the store unavailable: the client saw no answer
        answer = "error"
    return Attempt(user_agent, email, answer, started, time.monotonic(), step)
