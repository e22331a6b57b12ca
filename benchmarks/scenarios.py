"""The scenarios `benchmarks.run` measures. Each returns one figure per call."""

from __future__ import annotations

import functools
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from joserfc.jwk import ECKey

from commands import api_keys, login, organisations, totp, users
from commands.clients import describe_client
from commands.demo import DemoIdentityProvider
from commands.services import Services
from devtools.postgres_cluster import PgServer
from ledger.clock import FixedClock
from ledger.events import Context, Stamp
from ledger.passwords import hash_password, verify_password
from ledger.sign_in import SignInAttempt
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation
from projections.catalogue import runner_for
from projections.forensics import Forensics
from projections.queries import account_login_history, account_sessions

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATE = secrets.token_bytes(300)  # the size of a typical stored event
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari"
Add = Callable[[str, str, list[float], bool], None]


@dataclass(frozen=True)
class Sizes:
    rows: int  # baseline rows/events per run
    accounts: int  # accounts signing in
    rounds: int  # sign-ins per account per run
    concurrent: int  # sign-ins per client process, in the 1- and 8-process runs
    history: int  # events of the one long-history account
    ci_sign_ins: int  # past API-key sign-ins of the account a CI job signs in to
    ci_probes: int  # sign-ins measured per run, on that account and on a fresh one each
    password_accounts: int  # accounts signing in with a password, twice each, per run
    serve_seconds: float  # each wrk run's duration through `serve`
    million: int  # events of the bulk-generated ledger rebuilt and verified (benchmarks.million)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            rows=200,
            accounts=10,
            rounds=2,
            concurrent=10,
            history=1_000,
            ci_sign_ins=2_000,
            ci_probes=20,
            password_accounts=3,
            serve_seconds=1,
            million=5_000,
        )

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            rows=3_000,
            accounts=100,
            rounds=5,
            concurrent=300,
            history=100_000,
            ci_sign_ins=50_000,
            ci_probes=200,
            password_accounts=20,
            serve_seconds=10,
            million=1_000_000,
        )


# ---- baselines -----------------------------------------------------------------------------


class PostgresBench:
    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.db = server.fresh_database("bench_baselines")

    def _table(self, conn: Any) -> None:
        conn.execute("DROP TABLE IF EXISTS rows")
        conn.execute(
            "CREATE TABLE rows (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, id bigserial PRIMARY KEY)"
        )

    def raw_inserts(self, n: int) -> float:
        """Baseline A: single-row autocommit INSERTs, rows/s."""
        with self.server.connect(self.db) as conn:
            self._table(conn)
        started = time.perf_counter()
        _insert_rows(self.server, self.db, n)
        return n / (time.perf_counter() - started)

    def raw_inserts_in_processes(self, n: int, processes: int) -> float:
        """Baseline A from `processes` client processes at once (n rows in all), rows/s: what
        PostgreSQL itself gives concurrent single-row commits on this machine."""
        with self.server.connect(self.db) as conn:
            self._table(conn)
        return _in_processes(
            processes, _timed_inserts, [(self.server, self.db, n // processes)] * processes
        )

    def binary_copy(self, n: int) -> float:
        """Baseline C: binary COPY, rows/s."""
        with self.server.connect(self.db) as conn:
            self._table(conn)
            started = time.perf_counter()
            with conn.cursor().copy(
                "COPY rows (originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for i in range(n):
                    copy.write_row((uuid.uuid4(), i, "bench:Event", STATE))
            return n / (time.perf_counter() - started)

    def library_saves(self, n: int) -> float:
        """Baseline B: the plain eventsourcing application, one event per save(), events/s."""
        db = self.server.fresh_database("bench_library")
        loc = StoreLocation.parse(self.server.url(db))
        app = _PlainApp(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": db,
                "POSTGRES_HOST": loc.pg_host,
                "POSTGRES_PORT": loc.pg_port,
                "POSTGRES_USER": loc.pg_user,
                "POSTGRES_PASSWORD": "",
            }
        )
        try:
            item = _PlainAggregate()
            app.save(item)
            started = time.perf_counter()
            for _ in range(n):
                item.touch(STATE.hex()[:300])
                app.save(item)
            return n / (time.perf_counter() - started)
        finally:
            app.close()


class _PlainAggregate(Aggregate):
    @event("Touched")
    def touch(self, note: str) -> None:
        self.note = note


class _PlainApp(Application[uuid.UUID]):
    name = "Plain"


def _insert_rows(server: PgServer, db: str, n: int) -> None:
    with server.connect(db) as conn:
        for i in range(n):
            conn.execute(
                "INSERT INTO rows (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                (uuid.uuid4(), i, "bench:Event", STATE),
            )


def _timed_inserts(server: PgServer, db: str, n: int) -> tuple[float, float, int]:
    started = time.monotonic()
    _insert_rows(server, db, n)
    return started, time.monotonic(), n


def _in_processes(
    processes: int, timed: Callable[..., tuple[float, float, int]], work: list[tuple[Any, ...]]
) -> float:
    """Run `timed(*args)` for each entry of `work`, one process each, all at once; the items
    done per second from the first start to the last end (on this machine's monotonic clock).
    Process start-up and imports are outside the timing."""
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_warm_up, range(processes))
        runs = pool.starmap(timed, work)
    started, ended = min(r[0] for r in runs), max(r[1] for r in runs)
    return sum(r[2] for r in runs) / (ended - started)


def _warm_up(_: int) -> None:
    import commands.login  # noqa: F401


# ---- the ledger's own scenarios ----------------------------------------------------------


@dataclass
class SignInCast:
    url: str
    emails: list[str]
    secrets: dict[str, str]
    idp_key: dict[str, Any]  # the demo IdP's private JWK (key objects do not pickle)

    def idp(self) -> DemoIdentityProvider:
        return DemoIdentityProvider(ECKey.import_key(self.idp_key))


def prepare_sign_ins(url: str, accounts: int, org: str) -> SignInCast:
    """An organisation signing in through SSO with a Flero TOTP factor, its members enrolled.
    Its IdP is the demo's, whose keys are pinned: ID tokens verify without a network."""
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=FixedClock(T0))
    idp = DemoIdentityProvider()
    organisations.create_organisation(services, organisations.CreateOrganisation(slug=org))
    organisations.configure_sso(services, idp.sign_in_for(org, "flero", enforced=True))
    cast = SignInCast(url, [], {}, idp.key.as_dict(private=True))
    for i in range(accounts):
        email = f"user{i}@{org}.test"
        users.create_user(services, users.CreateUser(email=email, org=org))
        secret = totp.enrol_totp(services, totp.EnrolTotp(email=email)).secret
        totp.confirm_totp(services, totp.ConfirmTotp(email=email, code=pyotp.TOTP(secret).at(T0)))
        cast.emails.append(email)
        cast.secrets[email] = secret
    store.close()
    return cast


def sign_in_rounds(cast: SignInCast, first_round: int, rounds: int) -> list[float]:
    """Every member signs in once per round, each round 30 s (one TOTP step) later.
    Returns each command's latency in seconds."""
    store = LedgerStore(StoreLocation.parse(cast.url))
    services = Services(store=store, clock=FixedClock(T0))
    latencies = []
    idp = cast.idp()
    for r in range(first_round, first_round + rounds):
        at = T0 + timedelta(seconds=30 * (r + 1))
        services.clock = FixedClock(at)
        for email in cast.emails:
            code = pyotp.TOTP(cast.secrets[email]).at(at)
            command = login.Login(
                email=email,
                method="sso",
                id_token=idp.id_token(email, at),
                ip="81.2.69.160",
                user_agent=UA,
                totp=code,
            )
            started = time.perf_counter()
            login.log_in(services, command)
            latencies.append(time.perf_counter() - started)
    store.close()
    return latencies


_round_counter = iter(range(1, 10_000, 50))


def run_ledger_scenarios(url: str, size: Sizes, repeat: int, add: Add, prefix: str) -> None:
    initialise_schema(StoreLocation.parse(url))
    cast = prepare_sign_ins(url, size.accounts, f"{prefix}-org")
    latencies: list[float] = []
    throughput = []
    for _ in range(repeat):
        batch = sign_in_rounds(cast, next(_round_counter), size.rounds)
        latencies += batch
        throughput.append(len(batch) / sum(batch))
    add(f"{prefix}.login_1_client", "logins/s", throughput, True)
    ordered = sorted(latencies)
    add(f"{prefix}.login_p50", "ms", [statistics.median(ordered) * 1000], False)
    add(f"{prefix}.login_p99", "ms", [ordered[int(len(ordered) * 0.99) - 1] * 1000], False)
    add(f"{prefix}.argon2_password", "ms", [_argon2_ms() for _ in range(repeat)], False)

    email = build_long_history(url, size.history)
    store = LedgerStore(StoreLocation.parse(url))
    forensics = Forensics(store)
    instants = [T0 + timedelta(minutes=30 * i) for i in range(1, size.history, size.history // 20)]
    state_at = [functools.partial(forensics.state, email, at) for at in instants[: repeat * 5]]
    add(f"{prefix}.state_as_of_p50", "ms", [_median_ms(state) for state in state_at], False)
    now = T0 + timedelta(minutes=30 * size.history)
    account_login_history(store, email, now, 90)  # brings read models up to date first
    add(
        f"{prefix}.history_p50",
        "ms",
        [_median_ms(lambda: account_login_history(store, email, now, 90)) for _ in range(repeat)],
        False,
    )
    events = store.event_count()
    store.close()
    rebuilds = [_rebuild_in_child(url) for _ in range(repeat)]
    add(f"{prefix}.projection_rebuild", "events/s", [events / s for s, _ in rebuilds], True)
    add(f"{prefix}.projection_rss", "MB", [rss for _, rss in rebuilds], False)
    add(
        f"{prefix}.verify_store",
        "events/s",
        [events / _verify_seconds(url) for _ in range(repeat)],
        True,
    )


def build_long_history(url: str, events: int) -> str:
    """One account with `events` events: workspace changes and API-key sign-ins, every 30 min."""
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=FixedClock(T0))
    organisations.create_organisation(services, organisations.CreateOrganisation(slug="long"))
    email = "long@long.test"
    users.create_user(services, users.CreateUser(email=email, org="long"))
    account = store.account(email)
    key = account.create_api_key("bench", Stamp(T0, Context(), store.keyring))
    client = describe_client("81.2.69.160", UA)
    sessions: list[Aggregate] = []  # each sign-in opens a session, saved with the account
    for i in range(1, events):
        stamp = Stamp(T0 + timedelta(minutes=30 * i), Context(), store.keyring)
        if i % 10 == 0:
            attempt = SignInAttempt(method="api_key", client=client, api_key=key.secret)
            sessions.append(account.log_in(attempt, None, stamp).opened)
        else:
            account.grant_workspace(f"w{i % 20}", "member" if i % 3 else "admin", stamp)
        if i % 1000 == 0:
            store.app.save(account, *sessions)
            sessions.clear()
    store.app.save(account, *sessions)
    store.close()
    return email


def _median_ms(call: Callable[[], object], times: int = 5) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _argon2_ms() -> float:
    started = time.perf_counter()
    verify_password(hash_password("correct horse battery staple"), "correct horse battery")
    return (time.perf_counter() - started) * 1000


def _rebuild_in_child(url: str) -> tuple[float, float]:
    """Seconds to rebuild every read model, and the process's peak RSS in MB."""
    code = (
        "import sys, time, resource;"
        "from benchmarks.scenarios import rebuild_all;"
        "t = time.perf_counter(); rebuild_all(sys.argv[1]);"
        "print(time.perf_counter() - t,"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def rebuild_all(url: str) -> None:
    store = LedgerStore(StoreLocation.parse(url))
    runner_for(store).rebuild()
    store.close()


def _verify_seconds(url: str) -> float:
    from ledger.integrity import verify_store

    store = LedgerStore(StoreLocation.parse(url))
    started = time.perf_counter()
    report = verify_store(store)
    elapsed = time.perf_counter() - started
    store.close()
    assert report.intact, report.finding
    return elapsed


def concurrent_logins(url: str, clients: int, sign_ins_per_client: int) -> float:
    """Sign-ins per second with `clients` processes at once, each signing in its own account
    (in its own organisation) again and again."""
    casts = [prepare_sign_ins(url, 1, f"c{secrets.token_hex(3)}") for _ in range(clients)]
    return _in_processes(clients, _timed_sign_ins, [(cast, sign_ins_per_client) for cast in casts])


def _timed_sign_ins(cast: SignInCast, rounds: int) -> tuple[float, float, int]:
    """(start, end, sign-ins) on the shared monotonic clock of this machine."""
    started = time.monotonic()
    count = len(sign_in_rounds(cast, 1, rounds))
    return started, time.monotonic(), count


# ---- an account a CI job signs in to once a minute (issue 12) ------------------------------

CI_IP = "81.2.69.160"
CI_UA = "ci-runner/2.4 (linux; x86_64)"
CI_BATCH = 250  # sign-ins (an account event and a new session each) per save while building


@dataclass(frozen=True)
class CiAccount:
    email: str
    api_key: str


@dataclass
class CiCast:
    url: str
    long: CiAccount  # signed in `sign_ins` times already
    fresh: CiAccount  # never signed in before the measured sign-ins
    next_at: datetime  # the next sign-in's instant: a minute after the last one


def build_ci_history(url: str, sign_ins: int, org: str) -> CiCast:
    """Two accounts of one organisation, an API key each; one of them signed in `sign_ins`
    times with its key, a minute apart, like a CI job. Each sign-in goes through the account's
    own rules as `commands.login.log_in` does, and opens its session; only the saving is
    batched (`CI_BATCH` sign-ins per save). Read models are caught up at the end."""
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=FixedClock(T0))
    organisations.create_organisation(services, organisations.CreateOrganisation(slug=org))
    cast = []
    for name in ("ci", "fresh"):
        email = f"{name}@{org}.test"
        users.create_user(services, users.CreateUser(email=email, org=org))
        issued = api_keys.create_api_key(services, api_keys.CreateApiKey(email=email, name="ci"))
        cast.append(CiAccount(email, issued.secret))
    long, fresh = cast
    account = store.account(long.email)
    found = store.app.find_organisation(account.org_id)
    policy = found.sso_policy() if found else None
    client = describe_client(CI_IP, CI_UA)
    attempt = SignInAttempt(method="api_key", client=client, api_key=long.api_key)
    opened: list[Aggregate] = []
    for minute in range(1, sign_ins + 1):
        at = T0 + timedelta(minutes=minute)
        stamp = Stamp(at, Context(ip=CI_IP, user_agent=CI_UA), store.keyring)
        opened.append(account.log_in(attempt, policy, stamp).opened)
        if len(opened) == CI_BATCH or minute == sign_ins:
            store.app.save(account, *opened)
            opened.clear()
    runner_for(store).catch_up_all()
    store.close()
    return CiCast(url, long, fresh, T0 + timedelta(minutes=sign_ins + 1))


def ci_sign_ins(cast: CiCast, count: int, warm_up: int = 3) -> tuple[list[float], list[float]]:
    """`count` sign-ins on each account through `commands.login.log_in`, a minute apart, taking
    turns (which goes first alternates). Seconds each: (long account, fresh account).
    The first `warm_up` of each (imports, connections, the aggregate cache) are not timed."""
    store = LedgerStore(StoreLocation.parse(cast.url))
    services = Services(store=store, clock=FixedClock(cast.next_at))
    timed: dict[str, list[float]] = {cast.long.email: [], cast.fresh.email: []}
    for minute in range(warm_up + count):
        services.clock = FixedClock(cast.next_at + timedelta(minutes=minute))
        turn = (cast.long, cast.fresh) if minute % 2 == 0 else (cast.fresh, cast.long)
        for who in turn:
            command = login.Login(
                email=who.email, method="api_key", api_key=who.api_key, ip=CI_IP, user_agent=CI_UA
            )
            started = time.perf_counter()
            login.log_in(services, command)
            if minute >= warm_up:
                timed[who.email].append(time.perf_counter() - started)
    cast.next_at += timedelta(minutes=warm_up + count)
    store.close()
    return timed[cast.long.email], timed[cast.fresh.email]


def sessions_list_ms(cast: CiCast, times: int = 20) -> float:
    """`sessions list` (the first page, 50) of the long account, read models caught up: the
    median of `times` queries, in ms."""
    store = LedgerStore(StoreLocation.parse(cast.url))
    now = cast.next_at - timedelta(minutes=1)  # the last sign-in's instant
    runner_for(store).catch_up_all()
    page = account_sessions(store, cast.long.email, now)
    # API-key sessions idle out after an hour: a job signing in once a minute keeps ~60 alive.
    assert len(page.sessions) == 50 and page.next_cursor is not None, page
    elapsed = _median_ms(lambda: account_sessions(store, cast.long.email, now), times)
    store.close()
    return elapsed


def run_ci_scenarios(url: str, size: Sizes, repeat: int, add: Add, prefix: str) -> None:
    """Sign-in and `sessions list` on an account with a long API-key history (issue 12)."""
    started = time.perf_counter()
    cast = build_ci_history(url, size.ci_sign_ins, f"{prefix}-ci")
    add(f"{prefix}.ci_history_build", "s", [time.perf_counter() - started], False)
    long_p50, fresh_p50, ratios, lists = [], [], [], []
    for _ in range(repeat):
        long, fresh = ci_sign_ins(cast, size.ci_probes)
        long_p50.append(statistics.median(long) * 1000)
        fresh_p50.append(statistics.median(fresh) * 1000)
        ratios.append(statistics.median(long) / statistics.median(fresh))
        lists.append(sessions_list_ms(cast))
    add(f"{prefix}.signin_long_history_p50", "ms", long_p50, False)
    add(f"{prefix}.signin_fresh_p50", "ms", fresh_p50, False)
    add(f"{prefix}.signin_long_vs_fresh", "x", ratios, False)
    add(f"{prefix}.sessions_list_p50", "ms", lists, False)
