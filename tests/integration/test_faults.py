"""Faults injected for real: a database server restarted under a stream of commands, a full
disk, a damaged store file, lost or wrong keys, a command cut off between checking a code and
saving. Each command either completes or fails with a clear error, and nothing is half-written.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from commands.login import Login, log_in
from commands.services import Services
from devtools.postgres_cluster import PgServer, throwaway_cluster
from ledger.application import SecurityLedger
from ledger.clock import SystemClock
from ledger.store import LedgerStore, initialise_schema
from ledger.store_location import StoreLocation
from tests.cli.test_login import configure_sso, id_token
from tests.conftest import Ledger

REPO = Path(__file__).resolve().parents[2]
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


def flero(*args: str, env: dict[str, str], limit_file_size: int | None = None) -> Any:
    """`flero-ledger ... --json` in a process of its own; optionally on a nearly full disk."""

    def full_disk() -> None:
        if limit_file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    return subprocess.run(
        [sys.executable, str(REPO / "cli.py"), *args, "--json"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        preexec_fn=full_disk,
        check=False,
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("FLERO_LEDGER_MASTER_KEY", None)
    assert flero("--db", url, "org", "create", "acme", env=env).returncode == 0
    yield url, env


# ---- the database server goes away -------------------------------------------------------


@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A cluster of our own, so that restarting it disturbs no other test."""
    with throwaway_cluster() as server:
        yield server


def test_commands_streaming_through_a_postgres_restart_complete_or_fail_cleanly_and_recover(
    own_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = own_server.url(own_server.fresh_database("restarted"))
    initialise_schema(StoreLocation.parse(url))
    setup = Ledger(url)
    setup.ok("org", "create", "acme")
    setup.ok("user", "create", "ada@acme.test", "--org", "acme")
    key = setup.ok("api-keys", "create", "ada@acme.test", "--name", "ci")["key"]
    recorded = setup.event_count()
    # One long-lived process, as a server or worker is: its connections are cut mid-stream.
    store = LedgerStore(StoreLocation.parse(url))
    services = Services(store=store, clock=SystemClock())
    attempt = Login(
        email="ada@acme.test", method="api_key", api_key=key, ip="192.0.2.1", user_agent=UA
    )
    opened: list[str] = []
    failures: list[BaseException] = []
    restarted = threading.Event()

    def restart() -> None:
        time.sleep(0.5)
        own_server.restart()
        restarted.set()

    restarter = threading.Thread(target=restart)
    restarter.start()
    after_restart = 0
    deadline = time.monotonic() + 30
    while after_restart < 20 and time.monotonic() < deadline:
        try:
            opened.append(log_in(services, attempt).session_id)
            after_restart += restarted.is_set()
        except Exception as failure:  # the CLI maps these; see the check below
            failures.append(failure)
    restarter.join()
    store.close()

    assert after_restart == 20, "the stream did not recover on its own"
    for failure in failures:  # exactly what the CLI answers with exit 1 `store_unavailable`
        assert (
            "OperationalError" in type(failure).__name__
            or "InterfaceError" in type(failure).__name__
        ), repr(failure)
    # Each sign-in records the attempt and opens its session; a failed one leaves neither.
    assert setup.event_count() == recorded + 2 * len(opened), "a failed command left an event"
    assert setup.ok("verify", "--store")["ok"] is True
    print(f"\n{len(opened)} sign-ins through a restart, {len(failures)} failed cleanly")


def test_info_counts_the_events_though_a_failed_append_left_a_gap_in_positions(
    ledger: Ledger, store: LedgerStore
) -> None:
    """An append cut off after drawing its positions (as in the restart above) leaves them
    unused: the log's head is then past the number of events, and `info` says the number."""
    if not store.database.postgres:
        pytest.skip("SQLite's positions are its row ids: a failed append draws none")
    ledger.ok("org", "create", "acme")
    before = ledger.event_count()
    with store.database.transaction() as tx:  # positions drawn, the append never made
        tx.fetchone("SELECT nextval('ledger_events_notification_id_seq')")

    ledger.ok("user", "create", "ada@acme.test", "--org", "acme")

    assert ledger.event_count() == before + 1
    assert store.head_position() == before + 2


# ---- the disk fills up -------------------------------------------------------------------


def test_a_full_disk_fails_commands_cleanly_and_the_store_stays_intact(
    sqlite_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_store
    largest = max(f.stat().st_size for f in tmp_path.glob("ledger.sqlite3*"))
    outcomes: list[tuple[str, int]] = []
    for i in range(40):
        if sum(code for _, code in outcomes) == 2:  # the disk is full for good: enough seen
            break
        result = flero(
            *("--db", url, "user", "create", f"u{i}@acme.test", "--org", "acme"),
            env=env,
            limit_file_size=largest + 8_192,
        )
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr
        if result.returncode == 1:
            assert json.loads(result.stdout)["error"]["code"] == "store_unavailable"
        outcomes.append((f"u{i}@acme.test", result.returncode))
    assert {code for _, code in outcomes} == {0, 1}, "the disk never filled up"

    assert json.loads(flero("--db", url, "verify", "--store", env=env).stdout)["ok"] is True
    for email, code in outcomes:
        status = flero("--db", url, "mfa", "status", email, env=env)
        assert status.returncode == code, f"{email}: told {code}, store says {status.stdout}"
    again = flero("--db", url, "user", "create", "after@acme.test", "--org", "acme", env=env)
    assert again.returncode == 0


def test_a_store_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    damaged = tmp_path / "ledger.sqlite3"
    damaged.write_bytes(b"\x00garbage" * 512)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}

    result = flero("--db", f"sqlite:///{damaged}", "info", env=env)

    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "store_unavailable"
    assert "not a database" in result.stderr
    assert damaged.read_bytes() == b"\x00garbage" * 512


# ---- keys lost or mixed up ---------------------------------------------------------------


def test_a_lost_master_key_file_is_refused_never_silently_replaced(
    sqlite_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_store
    created = flero("--db", url, "user", "create", "ada@acme.test", "--org", "acme", env=env)
    assert created.returncode == 0
    key_file = tmp_path / "ledger.sqlite3.master-key"
    kept = key_file.read_bytes()
    key_file.unlink()

    result = flero("--db", url, "mfa", "status", "ada@acme.test", env=env)

    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "key_unavailable"
    assert "missing" in result.stderr
    assert not key_file.exists()
    key_file.write_bytes(kept)
    key_file.chmod(0o600)
    assert flero("--db", url, "mfa", "status", "ada@acme.test", env=env).returncode == 0


def test_a_wrong_master_key_is_refused_before_anything_is_recorded(
    ledger: Ledger, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ledger.event_count()
    monkeypatch.setenv("FLERO_LEDGER_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

    refused = ledger.refused("user", "create", "bob@acme.test", "--org", "acme")
    assert refused["error"]["code"] == "key_unavailable"
    assert "does not open" in refused["error"]["message"]

    monkeypatch.delenv("FLERO_LEDGER_MASTER_KEY")
    assert ledger.event_count() == before


# ---- a command cut off half-way ----------------------------------------------------------


@pytest.mark.parametrize("factor", ["totp", "recovery-code"])
def test_a_command_cut_off_between_checking_a_code_and_saving_consumes_nothing(
    ledger: Ledger, account: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, factor: str
) -> None:
    secret = ledger.ok("mfa", "totp", "enrol", account)["secret"]
    codes = ledger.ok("mfa", "totp", "confirm", account, pyotp.TOTP(secret).at(ledger.now))
    ledger.later(minutes=1)
    code = pyotp.TOTP(secret).at(ledger.now) if factor == "totp" else codes["recovery_codes"][0]
    sign_in = (
        *("login", account, "--method", "sso", "--id-token-stdin", "--ip", "192.0.2.1"),
        *("--user-agent", UA, f"--{factor}", code),
    )
    configure_sso(ledger, tmp_path, "flero")
    token = id_token(ledger, account) + "\n"  # spent, like the code, only by a saved sign-in
    before = ledger.event_count()

    def power_cut(self: SecurityLedger, *aggregates: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # the process dies after the code was checked, before saving

    with monkeypatch.context() as cut:
        cut.setattr(SecurityLedger, "save", power_cut)
        interrupted = ledger.run(*sign_in, "--json", stdin=token)
    assert interrupted.exit_code != 0

    assert ledger.event_count() == before, "half a command was recorded"
    assert ledger.ok(*sign_in, stdin=token)["outcome"] == "success", "the code was consumed"
