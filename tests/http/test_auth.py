"""API_KEY and ADMIN_API_KEY: bearer or X-API-Key, /health always open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.http.conftest import WORKFLOW

MakeClient = Callable[..., TestClient[Litestar]]


def test_api_key_is_required_on_every_route_but_health(make_client: MakeClient) -> None:
    client = make_client(api_key="s3cret")
    assert client.get("/health").status_code == 200
    for method, path in [("POST", "/run"), ("GET", "/status/x"), ("GET", "/stats"), ("GET", "/jobs"),
                         ("POST", "/admin/cleanup"), ("GET", "/schema/openapi.json")]:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert "API key" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer s3cret"}, {"X-API-Key": "s3cret"},
                                     {"authorization": "bearer s3cret"}])
def test_api_key_is_accepted_as_bearer_or_header(make_client: MakeClient, headers: dict[str, str]) -> None:
    client = make_client(api_key="s3cret")
    assert client.post("/run", json={"workflow": WORKFLOW}, headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cre"},
                                     {"Authorization": "Basic s3cret"}])
def test_wrong_api_key_is_refused(make_client: MakeClient, headers: dict[str, str]) -> None:
    response = make_client(api_key="s3cret").get("/stats", headers=headers)
    assert response.status_code in (401, 403) and response.json()["detail"]


def test_admin_routes_need_the_admin_key(make_client: MakeClient) -> None:
    client = make_client(api_key="user", admin_api_key="admin")
    assert client.post("/admin/cleanup", headers={"X-API-Key": "user"}).status_code == 403
    assert client.post("/admin/cleanup", headers={"X-API-Key": "admin"}).status_code == 200
    assert client.get("/stats", headers={"X-API-Key": "user"}).status_code == 200
    assert client.get("/stats", headers={"X-API-Key": "admin"}).status_code == 200


def test_admin_key_alone_leaves_other_routes_open(make_client: MakeClient) -> None:
    client = make_client(admin_api_key="admin")
    assert client.get("/stats").status_code == 200
    assert client.post("/admin/cleanup").status_code == 401


def test_keys_are_documented_in_the_schema(make_client: MakeClient) -> None:
    schema: dict[str, Any] = make_client(api_key="k").get("/schema/openapi.json",
                                                          headers={"X-API-Key": "k"}).json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["paths"]["/health"]["get"]["security"] == [{}]  # anonymous



def test_health_without_a_valid_key_gives_the_status_only(make_client: MakeClient, db_path: str) -> None:
    """No database path, process ids or exit details for anonymous callers once API_KEY is set."""
    client = make_client(api_key="s3cret", admin_api_key="adm1n")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "s3cre"}):
        response = client.get("/health", headers=headers)
        assert response.status_code == 200
        assert response.json() == {"status": "healthy"}, headers
        assert db_path not in response.text
    for key in ("s3cret", "adm1n"):
        full = client.get("/health", headers={"Authorization": f"Bearer {key}"}).json()
        assert full["status"] == "healthy" and full["database_path"] == db_path and "job_stats" in full


def test_health_without_a_key_keeps_its_503(make_client: MakeClient, store: Any) -> None:
    client = make_client(api_key="s3cret")
    store.set_component("comfyui-0", "fatal", pid=4242, detail="exit 1: gave up")
    response = client.get("/health")
    assert (response.status_code, response.json()) == (503, {"status": "unhealthy"})
    assert "4242" not in response.text and "exit 1" not in response.text
    full = client.get("/health", headers={"X-API-Key": "s3cret"})
    assert full.status_code == 503 and full.json()["components"]["comfyui-0"]["pid"] == 4242


def test_health_without_api_key_set_stays_complete(make_client: MakeClient, db_path: str) -> None:
    assert make_client().get("/health").json()["database_path"] == db_path
