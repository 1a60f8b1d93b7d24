"""Property-based API test: schemathesis against /api/v1/openapi.json on the WSGI app.

Every operation gets generated requests (bounded, so the whole test stays well
under a minute on both backends); no answer may be a server error, and every
answer must match the documented status codes, content type and schemas.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from test_web_support import *  # noqa: F401,F403 - fixtures
from test_web_support import bearer, make_key

MAX_EXAMPLES = 100


def test_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/lookup", "/golden/{golden_id}", "/golden/{golden_id}/history", "/changes",
                                  "/resolve", "/ping"}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "LookupRequest" in spec["components"]["schemas"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_api_conforms_to_its_openapi(app, store, world, mode):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = bearer(make_key(store, "all"))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):  # type: ignore[no-untyped-def]
        case.call_and_validate(headers=headers, checks=checks)

    run()
