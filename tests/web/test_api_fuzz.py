"""Every operation in the API's own OpenAPI document, fuzzed by schemathesis: whatever a
generated request holds, the server never answers with a 5xx (on both stores)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from ledger.store_location import StoreLocation
from tests.conftest import Ledger
from web.app import create_app

EXAMPLES = 12


def test_no_generated_request_makes_the_api_fail(ledger: Ledger, store_url: str) -> None:
    ledger.ok("org", "create", "acme")
    ledger.ok("user", "create", "ada@acme.test", "--org", "acme")
    key = ledger.ok("api-keys", "create", "ada@acme.test", "--name", "fuzz")["key"]
    app = create_app(StoreLocation.parse(store_url))
    with TestClient(app) as client:

        def bearer() -> dict[str, str]:
            body = {"email": "ada@acme.test", "method": "api_key", "api_key": key}
            token = client.post("/api/login", json=body).json()["session_token"]
            return {"Authorization": f"Bearer {token}"}

        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20, "the API lost operations"
        failures: list[str] = []
        answered: Counter[int] = Counter()
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Any) -> None:
                response = case.call(headers={**(case.headers or {}), **bearer()})
                answered[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

            fuzz()
    assert failures == []
    assert answered[200] >= len(operations), f"too few requests got through: {answered}"
    print(f"\n{sum(answered.values())} generated requests: {dict(sorted(answered.items()))}")
