"""Every error is JSON with a ``detail``; the schema documents every route."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

ROUTES = {"/run": {"post"}, "/runsync": {"post"}, "/status/{job_id}": {"get"}, "/cancel/{job_id}": {"post"},
          "/jobs": {"get"}, "/jobs/{job_id}/outputs/{index}": {"get"}, "/health": {"get"}, "/stats": {"get"},
          "/admin/cleanup": {"post"}, "/admin/reset-stuck": {"post"}, "/admin/job/{job_id}": {"delete"}}
ROUTES |= {f"/v2/{{endpoint_id}}/{path}": methods for path, methods in {  # RunPod's endpoint API
    "run": {"post"}, "runsync": {"post"}, "status/{job_id}": {"get", "post"}, "stream/{job_id}": {"get", "post"},
    "cancel/{job_id}": {"post"}, "health": {"get"}, "purge-queue": {"post"}}.items()}


def test_unknown_route_and_wrong_method_are_json(client: TestClient[Litestar]) -> None:
    for response, status in [(client.get("/nowhere"), 404), (client.get("/run"), 405),
                             (client.put("/status/x"), 405)]:
        assert response.status_code == status
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["detail"]


def test_schema_documents_every_route_and_the_run_body(client: TestClient[Litestar]) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert {path: set(ops) for path, ops in schema["paths"].items()} == ROUTES
    body = schema["paths"]["/run"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("RunBody")
    assert set(schema["components"]["schemas"]["RunBody"]["properties"]) >= {"workflow", "images", "input"}
    assert "400" in schema["paths"]["/run"]["post"]["responses"]


def test_interactive_docs_are_served(client: TestClient[Litestar]) -> None:
    response = client.get("/schema")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert client.get("/schema/swagger").status_code == 200
