"""GET /health (components, 503 rule) and GET /stats (counts, recent jobs)."""

from __future__ import annotations

import apsw
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import complete, submit


def test_health_reports_counts_path_and_components(client: TestClient[Litestar], store: Store,
                                                   db_path: str) -> None:
    done = submit(client)
    submit(client)
    complete(store, done)
    store.set_component("comfyui-0", "running", pid=42)
    store.set_component("executor-0", "backoff", restarts=2)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database_path"]) == ("healthy", db_path)
    assert body["job_stats"] == {"pending": 1, "running": 0, "completed": 1, "failed": 0, "cancelled": 0,
                                 "total": 2}
    assert body["components"]["comfyui-0"]["pid"] == 42
    assert body["components"]["executor-0"]["state"] == "backoff"


@pytest.mark.parametrize(("name", "state"), [("comfyui-0", "starting"), ("comfyui-1", "backoff"),
                                             ("executor-0", "fatal"), ("http", "fatal")])
def test_health_is_503_when_a_component_is_down(client: TestClient[Litestar], store: Store,
                                                name: str, state: str) -> None:
    store.set_component("comfyui-0", "running")
    store.set_component(name, state)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and name in body["detail"]


def test_health_is_503_when_the_store_cannot_be_read(client: TestClient[Litestar],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    service = client.app.state.service

    def broken() -> dict[str, int]:
        raise apsw.IOError("disk I/O error")

    monkeypatch.setattr(service.store, "stats", broken)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy" and "disk I/O error" in response.json()["detail"]


def test_stats_counts_jobs_without_recent_unless_asked(client: TestClient[Litestar], store: Store) -> None:
    done = submit(client)
    submit(client)
    complete(store, done)
    body = client.get("/stats").json()
    assert body.pop("disk")["state"] == "ok"  # sizes: tests/http/test_disk.py
    assert body.pop("clients") == {"default": {"pending": 1, "running": 0, "completed": 1, "failed": 0,
                                               "cancelled": 0, "total": 2}}  # the open API's one client
    assert body == {"total_jobs": 2, "pending_jobs": 1, "running_jobs": 0, "completed_jobs": 1,
                    "failed_jobs": 0, "cancelled_jobs": 0}


def test_stats_include_recent_lists_the_newest_jobs(client: TestClient[Litestar]) -> None:
    ids = [submit(client) for _ in range(12)]
    recent = client.get("/stats", params={"include_recent": "true"}).json()["recent_jobs"]
    assert [j["id"] for j in recent] == ids[::-1][:10]
    assert set(recent[0]) >= {"id", "status", "created_at", "started_at", "completed_at", "error"}
    limited = client.get("/stats", params={"include_recent": "true", "limit": 3}).json()["recent_jobs"]
    assert len(limited) == 3


@pytest.mark.parametrize("params", [{"include_recent": "maybe"}, {"limit": 0}, {"limit": "ten"}])
def test_stats_rejects_bad_query_values(client: TestClient[Litestar], params: dict[str, object]) -> None:
    response = client.get("/stats", params=params)
    assert response.status_code == 400 and response.json()["detail"]
