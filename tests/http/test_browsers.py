"""Browsers and defaults, against ``comfyui-worker http`` on loopback: JSON only, no cross-origin state changes
unless allowed, RFC 6750 answers for keys, and an open API beyond loopback shown in /health."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.http.conftest import WORKFLOW
from tests.http.server import Server, running_server

BODY = httpx.Request("POST", "/", json={"workflow": WORKFLOW}).content
EVIL = "https://evil.example"
APP = "https://app.example:8443"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = str(tmp_path_factory.mktemp("browsers") / "jobs.db")
    with running_server(db, CORS_ALLOW_ORIGINS=f"{APP}, http://localhost:3000") as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def jobs(http: httpx.Client) -> int:
    return int(http.get("/stats").json()["total_jobs"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_run_takes_json_only(http: httpx.Client, content_type: str | None) -> None:
    before = jobs(http)
    headers = {"content-type": content_type} if content_type else {}
    response = http.post("/run", content=BODY, headers=headers)  # content=: httpx adds no Content-Type
    assert response.status_code == 415, response.text
    assert "Content-Type" in response.json()["detail"] and "application/json" in response.json()["detail"]
    assert jobs(http) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON", "application/vnd.api+json"])
def test_json_bodies_are_accepted(http: httpx.Client, content_type: str) -> None:
    response = http.post("/run", content=BODY, headers={"content-type": content_type})
    assert response.status_code == 200, response.text


def test_admin_routes_refuse_form_and_text_bodies(http: httpx.Client) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = http.post("/admin/cleanup", content=b"x=1", headers={"content-type": content_type})
        assert response.status_code == 415 and "no body" in response.json()["detail"]
    assert http.post("/admin/cleanup").status_code == 200  # no body, no Content-Type: as curl -X POST sends


@pytest.mark.parametrize(("method", "path"), [("POST", "/run"), ("POST", "/runsync"), ("POST", "/admin/cleanup"),
                                              ("POST", "/admin/reset-stuck"), ("POST", "/cancel/x"),
                                              ("DELETE", "/admin/job/x")])
@pytest.mark.parametrize("headers", [{"origin": EVIL}, {"origin": "null"}, {"sec-fetch-site": "cross-site"},
                                     {"origin": EVIL, "sec-fetch-site": "cross-site"},
                                     {"origin": APP + ".evil.example"}])
def test_cross_origin_state_changes_are_refused(http: httpx.Client, method: str, path: str,
                                                headers: dict[str, str]) -> None:
    before = jobs(http)
    response = http.request(method, path, content=BODY, headers={"content-type": "application/json", **headers})
    assert response.status_code == 403, response.text
    assert "cross-origin" in response.json()["detail"] and "CORS_ALLOW_ORIGINS" in response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers
    assert jobs(http) == before


def test_cross_origin_reads_still_answer_without_cors_headers(http: httpx.Client) -> None:
    response = http.get("/health", headers={"origin": EVIL})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


def test_an_allowed_origin_gets_preflight_and_cors_answers(http: httpx.Client) -> None:
    preflight = http.options("/run", headers={"origin": APP, "access-control-request-method": "POST",
                                              "access-control-request-headers": "content-type, authorization"})
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == APP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    refused = http.options("/run", headers={"origin": EVIL, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in refused.headers

    response = http.post("/run", content=BODY, headers={"content-type": "application/json", "origin": APP,
                                                        "sec-fetch-site": "cross-site"})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == APP


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = str(tmp_path_factory.mktemp("keys") / "jobs.db")
    with running_server(db, API_KEY="user-key", ADMIN_API_KEY="admin-key") as running:
        yield running


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {"X-API-Key": "user-ke"},
                                     {"X-API-Key": "admin-key-and-more"}])
def test_a_wrong_key_is_401_invalid_token(keyed: Server, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/stats"), ("POST", "/admin/cleanup")):
        response = httpx.request(method, keyed.url + path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["detail"] == "invalid API key"


def test_a_missing_key_is_401_with_a_bearer_challenge(keyed: Server) -> None:
    response = httpx.get(keyed.url + "/stats")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_a_valid_key_on_a_route_it_may_not_use_is_403(keyed: Server) -> None:
    response = httpx.post(keyed.url + "/admin/cleanup", headers={"Authorization": "Bearer user-key"})
    assert response.status_code == 403, response.text
    assert "ADMIN_API_KEY" in response.json()["detail"]
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    assert httpx.get(keyed.url + "/stats", headers={"Authorization": "Bearer user-key"}).status_code == 200
    assert httpx.post(keyed.url + "/admin/cleanup", headers={"X-API-Key": "admin-key"}).status_code == 200


def test_a_loopback_api_has_no_warning_in_health(http: httpx.Client) -> None:
    assert "warnings" not in http.get("/health").json()  # API_HOST=127.0.0.1, no key


@pytest.mark.parametrize(("host", "api_key", "admin_key", "warned"), [
    ("0.0.0.0", None, None, "run /admin/*"), ("::", None, "a", "submit and cancel jobs;"),
    ("10.1.2.3", None, None, "API_HOST=10.1.2.3"), ("127.0.0.1", None, None, None), ("::1", None, None, None),
    ("localhost", None, None, None), ("0.0.0.0", "k", None, None)])
def test_an_open_api_beyond_loopback_is_shown_in_health(make_client: Callable[..., TestClient[Litestar]],
                                                         host: str, api_key: str | None, admin_key: str | None,
                                                         warned: str | None) -> None:
    """The app as built for each API_HOST (binding a real server beyond loopback is not done in tests)."""
    client = make_client(api_host=host, api_key=api_key, admin_api_key=admin_key)
    body = client.get("/health").json()
    if warned is None:
        assert "warnings" not in body
    else:
        [warning] = body["warnings"]
        assert warned in warning and "API_KEY is not set" in warning
