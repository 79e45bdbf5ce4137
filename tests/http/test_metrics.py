"""GET /metrics: open like /health unless METRICS_API_KEY is set, the store's figures (every process's) and this
process's requests by route template — never by the raw path a client chose."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from store import Store
from tests.http.conftest import WORKER, submit
from tests.http.server import running_server
from tests.monitoring.prometheus import promtool_check
from transports.http.metrics.registry import Metrics
from transports.http.metrics.store_figures import StoreCollector

MakeClient = Callable[..., TestClient[Litestar]]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_are_open_by_default_even_with_an_api_key(make_client: MakeClient) -> None:
    client = make_client(api_key="s3cret")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert samples(response.text)[("comfyui_worker_store_readable", ())] == 1


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer api-key"},
                                     {"Authorization": "Bearer admin-key"}])
def test_metrics_api_key_is_the_only_key_to_metrics(make_client: MakeClient, headers: dict[str, str]) -> None:
    client = make_client(metrics_api_key="m-key", api_key="api-key", admin_api_key="admin-key")
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "metrics key" in response.json()["detail"] and response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer m-key"}, {"X-API-Key": "m-key"}])
def test_metrics_api_key_opens_metrics(make_client: MakeClient, headers: dict[str, str]) -> None:
    client = make_client(metrics_api_key="m-key")
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/health").status_code == 200  # the key guards /metrics only


def test_job_figures_come_from_the_store_whoever_wrote_them(make_client: MakeClient, db_path: str) -> None:
    client = make_client()
    ids = [submit(client) for _ in range(3)]
    executor = Store(db_path)  # another process's connection: the executor's
    job = executor.claim(WORKER)
    assert job is not None and job.id == ids[0]
    executor.complete(job.id, WORKER, {"images": []}, comfyui_s=1.5)
    executor.close()
    found = samples(client.get("/metrics").text)
    assert found[("comfyui_worker_jobs", (("status", "pending"),))] == 2
    assert found[("comfyui_worker_jobs", (("status", "completed"),))] == 1
    assert found[("comfyui_worker_oldest_pending_job_age_seconds", ())] >= 0
    assert found[("comfyui_worker_job_comfyui_seconds_bucket", (("le", "1.0"), ("outcome", "completed")))] == 0
    assert found[("comfyui_worker_job_comfyui_seconds_bucket", (("le", "2.5"), ("outcome", "completed")))] == 1
    assert found[("comfyui_worker_job_comfyui_seconds_sum", (("outcome", "completed"),))] == 1.5
    assert found[("comfyui_worker_disk_free_bytes", ())] > 0 and found[("comfyui_worker_store_size_bytes", ())] > 0


def test_requests_are_counted_by_route_template_never_by_path(db_path: str) -> None:
    """Hostile paths and methods: a thousand different paths make one series each for the unmatched and the
    status route; an unusual method is `other`."""
    with running_server(db_path) as server, httpx.Client(base_url=server.url) as http:
        for i in range(500):
            http.get(f"/status/{uuid.uuid4()}")
            http.get(f"/no/such/{i}/{uuid.uuid4()}?q={i}")
        http.request("PROPFIND", "/health")
        text = http.get("/metrics").text
    found = samples(text)
    requests = {labels: value for (name, labels), value in found.items()
                if name == "comfyui_worker_http_requests_total"}
    assert requests[(("method", "GET"), ("route", "/status/{job_id}"), ("status", "404"))] == 500
    assert requests[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 500
    assert any(dict(labels)["method"] == "other" for labels in requests)
    assert len(requests) <= 4
    assert "no/such" not in text and "/status/" + "{job_id}" in text
    routes = {dict(labels)["route"] for (name, labels) in found if name.startswith("comfyui_worker_http_request")}
    assert routes <= {"/status/{job_id}", "unmatched", "/health"}


def test_an_unreadable_store_is_a_figure_not_a_failed_scrape(db_path: str) -> None:
    def broken() -> Store:
        raise OSError("disk I/O error")

    metrics = Metrics()
    metrics.add(StoreCollector(broken, lambda: 0.0))
    text = metrics.render().decode()
    assert samples(text) == {("comfyui_worker_store_readable", ()): 0}
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
