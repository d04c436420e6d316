"""Schemathesis against the gateway's own OpenAPI document, job routes included: no
generated request, valid or not, makes the server fail (5xx); every answer matches what
the document says (status, media type, body schema, the Allow header); invalid requests
are refused and keys are required.

Examples are derandomized and bounded (`max_examples`) so CI runs are repeatable and quick;
the engine is scripted (instant), so only the HTTP layer is under test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from service.app import create_app
from tests.service.gateway_live import LiveServer, scripted_engine
from tests.service.gateway_live import settings as service_settings

KEY = "schema-key-0123456789"
# Jobs go to the machine's Redis under a prefix of their own, expiring in a minute: with
# no Redis the job routes answer 503, which is right but is what this test forbids.
SETTINGS = service_settings(
    redis_url="redis://127.0.0.1:6379/0",
    job_prefix=f"glore-schema-{uuid.uuid4().hex[:8]}",
    result_ttl_s=60,
    api_keys=[KEY],
    rate_limit_per_minute=1_000_000,
    # Big enough that a body over a schema bound (say 1,001 job items) meets the schema's
    # 422 rather than the body limit's 413, which has tests of its own.
    max_body_bytes=16 * 2**20,
)
schema = schemathesis.openapi.from_dict(create_app(SETTINGS, scripted_engine()).openapi())
gateway_schema = schema.exclude(path_regex="^/v1/jobs")
jobs_schema = schema.include(path_regex="^/v1/jobs")


@pytest.fixture(scope="module")
def gateway() -> Iterator[LiveServer]:
    server = LiveServer(create_app(SETTINGS, scripted_engine()))
    yield server
    server.stop()


_EXAMPLES = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
AUTH = {"Authorization": f"Bearer {KEY}"}


@gateway_schema.parametrize()
@_EXAMPLES
def test_no_request_makes_the_gateway_fail(case: Any, gateway: LiveServer) -> None:
    response = case.call(base_url=gateway.url, headers=AUTH, timeout=30)
    case.validate_response(response, headers=AUTH)


@jobs_schema.parametrize()
@_EXAMPLES
def test_no_request_makes_the_job_routes_fail(case: Any, gateway: LiveServer) -> None:
    # Every check but one: a schema-valid body may still be refused when its
    # Idempotency-Key header and body key differ, a rule across two places that OpenAPI
    # cannot state, so `positive_data_acceptance` would flag a correct 422.
    response = case.call(base_url=gateway.url, headers=AUTH, timeout=30)
    case.validate_response(
        response, headers=AUTH, excluded_checks=[checks.positive_data_acceptance]
    )
