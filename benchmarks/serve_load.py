"""Load through `flero-ledger serve --workers 2`, wrk as the client (8 connections).

    python -m benchmarks.serve_load [--seconds 10] [--repeat 3]

Three loads on one server over a throwaway PostgreSQL cluster (or FLERO_LEDGER_BENCH_DSN), each
for a bounded time, in turns (so that a noisy neighbour hurts them alike):
  static        GET /static/security.css: what the server answers without the ledger
  api_mfa       GET /api/mfa with a session's bearer token: authenticated on every request
                (the token hashed and compared, the session checked), then a read model
  api_key       POST /api/login with an API key, rotating over eight accounts: every request
                records a sign-in and opens a session
Prints requests/s, latency p50/p99 and the answers that were not 2xx for each, and whether
`GET /api/mfa` reaches TARGET_RATIO of the static file's requests/s.

Needs wrk (https://github.com/wg/wrk), which `scripts/bootstrap` does not install:
`apt-get install wrk` on Debian or Ubuntu, `brew install wrk` on macOS. Without it
`benchmarks.run` skips these figures and says so.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from benchmarks.run import postgres
from benchmarks.serve_growth import serving
from commands import api_keys, login, organisations, totp, users
from commands.services import Services
from ledger.clock import SystemClock
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation

WORKERS = 2
CONNECTIONS = 8
THREADS = 2  # wrk's; each holds CONNECTIONS / THREADS connections
SIGNERS = 8  # accounts the API-key sign-ins rotate over
TARGET_RATIO = 0.6  # GET /api/mfa's requests/s against the static file's
STATIC_FILE = "/static/security.css"
ORG = "serve-load"
PASSWORD = "correct horse battery staple"  # noqa: S105 (a throwaway benchmark account's)
USER_AGENT = "wrk/4 (flero-ledger benchmark)"
WRK_MISSING = (
    "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` "
    "(macOS); the serve benchmark is skipped"
)

# Every run ends by printing its figures as one JSON line (wrk's own text is for people).
REPORT_LUA = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "microseconds": %d, "non_2xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
# Thread k of `threads` signs in as accounts k, k + threads, ... in turn, so that two requests
# in flight rarely sign in to the same account (that contention is issue 9's, not this load's).
SIGN_IN_LUA = """
local bodies = {%(bodies)s}
local threads = %(threads)d
local started = 0
setup = function(thread)
  thread:set("offset", started)
  started = started + 1
end
local sent = 0
request = function()
  local mine = #bodies / threads
  local body = bodies[offset + threads * (sent %% mine) + 1]
  sent = sent + 1
  return wrk.format("POST", "/api/login", {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    non_2xx: int  # answers with a status of 400 or more (wrk counts 3xx as answered)
    socket_errors: int  # connect, read, write errors and timeouts
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


@dataclass
class ServeLoad:
    static: list[Load] = field(default_factory=list)
    api_mfa: list[Load] = field(default_factory=list)
    api_key_sign_ins: list[Load] = field(default_factory=list)

    def loads(self) -> dict[str, list[Load]]:
        return {
            "static": self.static,
            "api_mfa": self.api_mfa,
            "api_key_sign_ins": self.api_key_sign_ins,
        }

    @property
    def ratio(self) -> float:
        """GET /api/mfa's median requests/s over the static file's."""
        return rps(self.api_mfa) / rps(self.static)


def rps(loads: list[Load]) -> float:
    return statistics.median(load.per_second for load in loads)


@dataclass(frozen=True)
class Cast:
    token: str  # a session's bearer token, of an account with TOTP
    sign_ins: list[str]  # POST /api/login bodies, one per account with an API key


def wrk_installed() -> bool:
    return shutil.which("wrk") is not None


def prepare(url: str) -> Cast:
    """The schema; an account with a password and TOTP, signed in through `commands.login`
    with a recovery code; SIGNERS accounts with an API key each."""
    location = StoreLocation.parse(url)
    initialise_schema(location)
    store = LedgerStore(location)
    services = Services(store=store, clock=SystemClock())
    organisations.create_organisation(services, organisations.CreateOrganisation(slug=ORG))
    email = f"mfa@{ORG}.test"
    users.create_user(services, users.CreateUser(email=email, org=ORG, password=PASSWORD))
    secret = totp.enrol_totp(services, totp.EnrolTotp(email=email)).secret
    code = pyotp.TOTP(secret).now()
    recovery = totp.confirm_totp(services, totp.ConfirmTotp(email=email, code=code))
    signed_in = login.log_in(
        services,
        login.Login(
            email=email,
            method="password",
            password=PASSWORD,
            recovery_code=recovery[0],
            ip="127.0.0.1",
            user_agent=USER_AGENT,
        ),
    )
    bodies = []
    for i in range(SIGNERS):
        signer = f"ci{i}@{ORG}.test"
        users.create_user(services, users.CreateUser(email=signer, org=ORG))
        key = api_keys.create_api_key(services, api_keys.CreateApiKey(email=signer, name="ci"))
        bodies.append(json.dumps({"email": signer, "method": "api_key", "api_key": key.secret}))
    store.close()
    return Cast(signed_in.token, bodies)


def wrk(base: str, path: str, script: Path, seconds: float, *headers: str) -> Load:
    """One wrk run of `seconds` against `base + path`."""
    options = [f"--header={header}" for header in (f"User-Agent: {USER_AGENT}", *headers)]
    run = subprocess.run(
        [
            *("wrk", f"--threads={THREADS}", f"--connections={CONNECTIONS}"),
            *(f"--duration={max(1, round(seconds))}s", "--timeout=10s", f"--script={script}"),
            *options,
            base + path,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    return Load(
        requests=figures["requests"],
        seconds=figures["microseconds"] / 1e6,
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )


def measure(url: str, seconds: float, repeat: int) -> ServeLoad:
    """`repeat` turns of the three loads on one `serve --workers 2`, after a warm-up turn
    (each worker opens its stores and connections on its first requests). Before each
    `GET /api/mfa` load one request brings the read models up to the sign-ins of the turn
    before, so that the load times reading, not catching up."""
    cast = prepare(url)
    result = ServeLoad()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = folder / "report.lua"
        plain.write_text(REPORT_LUA)
        sign_in = folder / "sign_in.lua"
        bodies = ", ".join(f"[==[{body}]==]" for body in cast.sign_ins)
        sign_in.write_text(SIGN_IN_LUA % {"bodies": bodies, "threads": THREADS} + REPORT_LUA)
        bearer = f"Authorization: Bearer {cast.token}"
        with serving(url, folder / "serve.log", workers=WORKERS) as client:
            base = str(client.base_url).rstrip("/")
            went_wrong = False
            for turn in range(repeat + 1):
                static = wrk(base, STATIC_FILE, plain, seconds)
                # The read models catch up on the last turn's sign-ins first, as a worker
                # (`projections run --follow`) keeps them: what is timed is the steady read.
                client.get("/api/mfa", headers={"Authorization": f"Bearer {cast.token}"})
                api_mfa = wrk(base, "/api/mfa", plain, seconds, bearer)
                api_key = wrk(base, "/api/login", sign_in, seconds)
                if turn > 0:
                    result.static.append(static)
                    result.api_mfa.append(api_mfa)
                    result.api_key_sign_ins.append(api_key)
                loads = (static, api_mfa, api_key)
                went_wrong |= any(load.non_2xx or load.socket_errors for load in loads)
        if went_wrong:
            print("\n".join(["the server's log of what went wrong:", *problems(folder)]))
    return result


def problems(folder: Path) -> list[str]:
    """The answers of 400 and more in the server's log, and the errors that caused them."""
    lines = (folder / "serve.log").read_text(errors="replace").splitlines()
    wrong = re.compile(r'" [45]\d\d |^[\w.]+(Error|Exception)\b')
    return [line for line in lines if wrong.search(line)][-40:]


def report(result: ServeLoad) -> None:
    print(f"\nserve --workers {WORKERS}, wrk with {CONNECTIONS} connections (median of runs)")
    print(
        f"{'load':18} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}"
    )
    for name, loads in result.loads().items():
        p50 = statistics.median(load.p50_ms for load in loads)
        p99 = statistics.median(load.p99_ms for load in loads)
        non_2xx = sum(load.non_2xx for load in loads)
        errors = sum(load.socket_errors for load in loads)
        print(f"{name:18} {rps(loads):11.1f} {p50:11.2f} {p99:11.2f} {non_2xx:11} {errors:11}")
    passed = "PASS" if result.ratio >= TARGET_RATIO else "FAIL"
    print(f"GET /api/mfa vs the static file: {result.ratio:.2f} (>= {TARGET_RATIO}) {passed}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="Each wrk run's duration.")
    parser.add_argument("--repeat", type=int, default=3, help="Turns of the three loads.")
    args = parser.parse_args()
    if not wrk_installed():
        raise SystemExit(WRK_MISSING)
    with postgres() as server:
        url = server.url(server.fresh_database("bench_serve_load"))
        report(measure(url, args.seconds, args.repeat))


if __name__ == "__main__":
    main()
