"""What an operator's tools see: `/healthz` for a load balancer, `/metrics` for Prometheus, and
`serve --workers 2` answering as one server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from devtools.postgres_cluster import PgServer
from ledger.store_location import StoreLocation
from tests.conftest import Ledger, wait_for
from tests.integration.test_serve_load import LOOPBACK, free_port, listening
from tests.web.conftest import PASSWORD, MovableClock, login_csrf
from web.app import create_app
from web.metrics import METRICS_TOKEN_ENV

REPO = Path(__file__).resolve().parents[2]


def samples(client: TestClient, name: str, headers: dict[str, str] | None = None) -> dict:
    """The samples of one metric, by their labels."""
    answer = client.get("/metrics", headers=headers or {})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def sign_ins(method: str, outcome: str, reason: str = "") -> tuple[tuple[str, str], ...]:
    return (("method", method), ("outcome", outcome), ("reason", reason))


def test_healthz_answers_without_a_session_with_how_far_the_read_models_trail(
    client: TestClient, ledger: Ledger
) -> None:
    ledger.ok("user", "create", "carol@acme.test", "--org", "acme")
    status = ledger.ok("projections", "status")
    answer = client.get("/healthz")
    assert answer.status_code == 200
    slowest = max(state["behind"] for state in status.values())
    assert answer.json() == {"status": "ok", "store": "reachable", "projections_lag": slowest}
    lag = samples(client, "flero_projection_lag_events")
    assert lag == {(("projection", name),): state["behind"] for name, state in status.items()}
    ledger.ok("projections", "run")
    assert client.get("/healthz").json()["projections_lag"] == 0


def test_healthz_says_unreachable_and_nothing_more_when_the_store_is_gone(
    ledger: Ledger,
    store_url: str,
    clock: MovableClock,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    ledger.ok("org", "create", "acme")
    with TestClient(create_app(StoreLocation.parse(store_url), clock)) as client:
        assert client.get("/healthz").status_code == 200
        if store_url.startswith("sqlite"):
            (tmp_path / "ledger.sqlite3").write_bytes(b"not a database, not any more" * 200)
        else:
            server: PgServer = request.getfixturevalue("pg_server")
            with server.connect() as admin:
                dbname = StoreLocation.parse(store_url).pg_dbname
                admin.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "store": "unreachable"}
        assert samples(client, "flero_store_up") == {(): 0.0}


def test_metrics_count_sign_ins_by_method_outcome_and_reason(client: TestClient) -> None:
    name = "flero_sign_ins_total"
    before = samples(client, name)
    good = {"email": "ada@acme.test", "method": "password", "password": PASSWORD}
    assert client.post("/api/login", json=good).status_code == 200
    wrong = good | {"password": "not it"}
    assert client.post("/api/login", json=wrong).status_code == 401
    form = {"email": "bob@acme.test", "password": "nor this", "login_csrf": login_csrf(client)}
    assert client.post("/signin", data=form).status_code == 401
    after = samples(client, name)

    def counted(key: tuple[tuple[str, str], ...]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert counted(sign_ins("password", "success")) == 1
    assert counted(sign_ins("password", "failure", "invalid_password")) == 2
    timed = samples(client, "flero_request_duration_seconds_count")
    assert timed[(("http_method", "POST"), ("route", "/api/login"))] >= 2
    assert timed[(("http_method", "POST"), ("route", "/signin"))] >= 1


def test_metrics_time_each_command_by_its_name(client: TestClient) -> None:
    """A sign-in runs log_in; the API request its session then makes runs check_session."""
    name = "flero_command_duration_seconds_count"
    before = samples(client, name)
    good = {"email": "ada@acme.test", "method": "password", "password": PASSWORD}
    signed_in = client.post("/api/login", json=good)
    assert signed_in.status_code == 200
    bearer = {"Authorization": f"Bearer {signed_in.json()['session_token']}"}
    assert client.get("/api/mfa", headers=bearer).status_code == 200
    after = samples(client, name)
    for command in ("log_in", "check_session"):
        key = (("command", command),)
        assert after[key] - before.get(key, 0.0) == 1, command
    seconds = samples(client, "flero_command_duration_seconds_sum")
    assert seconds[(("command", "log_in"),)] > 0


def test_metrics_count_throttled_sources(client: TestClient) -> None:
    """A hundred failures from one address stop it (as in test_hardening): counted once each."""
    before = samples(client, "flero_throttled_sign_ins_total").get((("method", "api_key"),), 0)
    for n in range(100):
        guess = {"email": f"{('ada', 'bob')[n % 2]}@acme.test", "method": "api_key"}
        assert client.post("/api/login", json=guess | {"api_key": f"k{n}"}).status_code == 401
    for _ in range(2):
        guess = {"email": "ada@acme.test", "method": "api_key", "api_key": "k"}
        assert client.post("/api/login", json=guess).json()["reason"] == "too_many_attempts"
    after = samples(client, "flero_throttled_sign_ins_total")[(("method", "api_key"),)]
    assert after - before == 2
    failures = samples(client, "flero_sign_ins_total")
    assert failures[sign_ins("api_key", "failure", "too_many_attempts")] >= 2


def test_metrics_show_the_age_of_the_last_checkpoint(
    client: TestClient, ledger: Ledger, clock: MovableClock
) -> None:
    assert samples(client, "flero_last_checkpoint_age_seconds") == {}
    ledger.at(clock.now()).ok("checkpoint")
    clock.advance(seconds=90)
    assert samples(client, "flero_last_checkpoint_age_seconds") == {(): 90.0}


def test_metrics_ask_for_the_token_when_one_is_set(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(METRICS_TOKEN_ENV, "s3cret-scrape-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert samples(client, "flero_store_up", {"Authorization": "Bearer s3cret-scrape-token"})
    assert client.get("/healthz").status_code == 200  # a load balancer holds no token


@pytest.mark.parametrize("backend", ["sqlite"])
def test_serve_with_two_workers_answers_and_counts_across_them(
    ledger: Ledger, backend: str, tmp_path: Path
) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", "ada@acme.test", "--org", "acme")
    key = ledger.ok("api-keys", "create", "ada@acme.test", "--name", "ops")["key"]
    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, str(REPO / "cli.py"), "--db", ledger.url, "serve"]
    shared = tmp_path / "metrics"  # given, so that the test sees which workers counted
    shared.mkdir()
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(REPO)}
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
        try:
            wait_for(lambda: listening(server, port, log), timeout=30)
            base = f"http://{LOOPBACK}:{port}"
            # A connection per request, so that either worker may take each one.
            fresh = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=base, timeout=20, trust_env=False, limits=fresh) as web:
                assert web.get("/healthz").json()["store"] == "reachable"
                outcomes = []
                for n in range(16):
                    wrong = n % 4 == 3
                    body = {"email": "ada@acme.test", "method": "api_key"}
                    body["api_key"] = "flk.x.wrong" if wrong else key
                    outcomes.append(web.post("/api/login", json=body).status_code)
                assert outcomes.count(200) == 12 and outcomes.count(401) == 4, outcomes
                # Whichever worker answers the scrape, it adds up both workers' counters.
                for _ in range(4):
                    text = web.get("/metrics").text
                    counted = {
                        sample.labels["outcome"]: sample.value
                        for family in text_string_to_metric_families(text)
                        for sample in family.samples
                        if sample.name == "flero_sign_ins_total"
                    }
                    assert counted == {"success": 12.0, "failure": 4.0}, json.dumps(counted)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                returncode = server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                raise AssertionError(f"serve did not stop:\n{log.read_text()}") from None
    assert returncode == 0, log.read_text()
    workers = {path.stem.rsplit("_", 1)[-1] for path in shared.glob("counter_*.db")}
    print(f"counters written by {len(workers)} worker(s)")
    assert log.read_text().count("Started server process") == 2, log.read_text()
