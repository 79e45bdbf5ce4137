"""Property-based run of the OpenAPI schema against the real server: no 5xx, responses match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.http.server import Server, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = Path(tmp_path_factory.mktemp("fuzz")) / "jobs.db"
    with running_server(str(db), COMFY_LOG_LEVEL="WARNING", MAX_REQUEST_MB="1") as s:
        yield s


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations(server: Server) -> list[Any]:
    schema = schemathesis.openapi.from_url(server.url + "/schema/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_conforms_to_the_schema(server: Server) -> None:
    operations = _operations(server)
    assert len(operations) == 11 + 9  # the seed's and ours; RunPod's /v2 (status and stream: GET and POST)
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
