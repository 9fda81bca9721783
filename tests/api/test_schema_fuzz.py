"""Schemathesis against the service's own OpenAPI schema: every GET endpoint, a bounded number of examples.

No answer is a 5xx, and every error (4xx) is JSON ``{"detail": ..., "field": ...}``.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from tests.api.conftest import _copy
from tests.conftest import DEMO

#: Examples per operation: enough to reach the parameter edges, small enough to keep the suite fast.
EXAMPLES = 12


@pytest.fixture(scope="module")
def api_schema(_blocks_built: Dataset) -> schemathesis.BaseSchema:
    app = create_app(Settings(dataset=DEMO, rate_limit_per_minute=0), dataset=_copy(_blocks_built))
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(method="GET")


def _check(case: schemathesis.Case) -> None:
    response = case.call()
    where = f"{case.method} {case.formatted_path} {case.query}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/json"), (where, response.status_code, content_type)
        body = response.json()
        assert "detail" in body and "field" in body, (where, body)


def test_get_endpoints_answer_no_5xx_and_json_errors(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: schemathesis.Case) -> None:
            _check(case)

        run()
