"""What the server tells its operators: `GET /healthz` for a load balancer and `GET /metrics`
for Prometheus.

Counters and the latency histograms (by route, and by command: commands.latency) live in this
process; with several workers (`serve --workers N`) each worker writes them to
PROMETHEUS_MULTIPROC_DIR and a scrape of any worker adds up all of them (prometheus-client's
multiprocess mode). Projection lag and the age of the last checkpoint are read from the store
at scrape time, so every worker reports the same.

/metrics reveals how many sign-ins succeed and fail, and why: when METRICS_TOKEN_ENV is set it
asks for that token as a bearer token; otherwise it is open to whoever reaches the server
(bind to loopback or keep it behind the proxy).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands import latency
from ledger.checkpoints import latest_checkpoint_signed_at
from ledger.errors import LoginDenied
from ledger.sign_in import THROTTLED
from web.answers import error
from web.ledger_access import LedgerAccess

METRICS_TOKEN_ENV = "FLERO_LEDGER_METRICS_TOKEN"  # noqa: S105 (a variable's name)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger(__name__)

SIGN_INS = Counter(
    "flero_sign_ins",
    "Sign-in attempts answered, by method, outcome (success or failure) and refusal reason.",
    ["method", "outcome", "reason"],
)
THROTTLED_SIGN_INS = Counter(
    "flero_throttled_sign_ins",
    "Sign-ins refused because their source made too many failed attempts (too_many_attempts).",
    ["method"],
)
REQUEST_SECONDS = Histogram(
    "flero_request_duration_seconds",
    "Time to answer a request, by route (its path template) and HTTP method.",
    ["route", "http_method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

COMMAND_SECONDS = Histogram(
    "flero_command_duration_seconds",
    "Time a command took (runs again after a concurrent change included), by command.",
    ["command"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
latency.report_to(lambda command, seconds: COMMAND_SECONDS.labels(command).observe(seconds))


@contextmanager
def sign_in_counted(method: str) -> Iterator[None]:
    """Counts the sign-in run inside: a success, or a refusal by its reason (re-raised)."""
    try:
        yield
    except LoginDenied as denied:
        SIGN_INS.labels(method, "failure", denied.reason).inc()
        if denied.reason == THROTTLED:
            THROTTLED_SIGN_INS.labels(method).inc()
        raise
    SIGN_INS.labels(method, "success", "").inc()


class RequestTimer:
    """Times every HTTP request; labelled by the route that answered it (a bounded set), or
    `unmatched` for paths no route knows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - began
                REQUEST_SECONDS.labels(route, scope["method"]).observe(elapsed)

        await self.app(scope, receive, timed_send)


def projections_lag(access: LedgerAccess) -> dict[str, int]:
    """Events each read model has not read yet, by read model."""
    from projections.catalogue import runner_for

    report = runner_for(access.services().store).status()
    return {name: state["behind"] for name, state in report.items()}


class StoreCollector(Collector):
    """The gauges read from the store when Prometheus scrapes."""

    def __init__(self, access: LedgerAccess) -> None:
        self.access = access

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("flero_store_up", "1 when the store answered this scrape, else 0.")
        try:
            lag = projections_lag(self.access)
            store = self.access.services().store
            signed_at = latest_checkpoint_signed_at(store.database)
        except Exception:  # an unreachable store is what this gauge reports
            log.warning("the store did not answer a metrics scrape", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        behind = GaugeMetricFamily(
            "flero_projection_lag_events",
            "Events in the ledger a read model has not read yet.",
            labels=["projection"],
        )
        for name, events in lag.items():
            behind.add_metric([name], events)
        yield behind
        if signed_at is not None:
            age = (self.access.clock.now() - signed_at).total_seconds()
            yield GaugeMetricFamily(
                "flero_last_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint of the log.",
                value=max(age, 0.0),
            )


def scrape_registry(access: LedgerAccess) -> CollectorRegistry:
    """This process's metrics, or every worker's when they share a multiprocess directory,
    with the store's gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Everything())
    registry.register(StoreCollector(access))
    return registry


class _Everything(Collector):
    """The process-wide default registry, read through a per-scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def allowed(request: Request) -> bool:
    token = os.environ.get(METRICS_TOKEN_ENV)
    if not token:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def operations_router(access: LedgerAccess) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    def healthz() -> Response:
        """Whether the store answers and how far the slowest read model trails it. Says
        nothing about the failure itself: that goes to the server's log."""
        try:
            lag = max(projections_lag(access).values(), default=0)
        except Exception:  # whatever stops the store answering, it is down
            log.warning("health check: the store did not answer", exc_info=True)
            return JSONResponse({"status": "unavailable", "store": "unreachable"}, 503)
        body: dict[str, Any] = {"status": "ok", "store": "reachable", "projections_lag": lag}
        return JSONResponse(body)

    @router.get("/metrics")
    def metrics(request: Request) -> Response:
        if not allowed(request):
            message = f"/metrics asks for the bearer token in {METRICS_TOKEN_ENV}"
            return error(401, "not_signed_in", message, {"WWW-Authenticate": "Bearer"})
        registry = scrape_registry(access)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
