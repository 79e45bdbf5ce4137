"""/admin/cleanup, /admin/reset-stuck and DELETE /admin/job/{job_id}."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import WORKER, WORKFLOW, claim, complete, submit

DAY = 86400.0


@pytest.fixture
def old_store(db_path: str) -> Iterator[Store]:
    """A store connection whose clock is two days in the past."""
    import time

    s = Store(db_path, clock=lambda: time.time() - 2 * DAY)
    yield s
    s.close()


def test_cleanup_deletes_old_terminal_jobs_only(client: TestClient[Litestar], store: Store,
                                                old_store: Store) -> None:
    old = old_store.create_job(WORKFLOW).id
    claim(old_store, old)
    old_store.complete(old, WORKER, {"images": []})
    recent = submit(client)
    complete(store, recent)
    old_pending = old_store.create_job(WORKFLOW).id
    body = client.post("/admin/cleanup").json()
    assert (body["deleted_jobs"], body["max_age_hours"]) == (1, 24)
    assert {j["id"] for j in client.get("/jobs").json()["jobs"]} == {old_pending, recent}
    assert client.post("/admin/cleanup", params={"max_age_hours": 0}).json()["deleted_jobs"] == 1


def test_reset_stuck_requeues_long_running_jobs(client: TestClient[Litestar], old_store: Store) -> None:
    job_id = old_store.create_job(WORKFLOW).id
    claim(old_store, job_id)
    assert client.post("/admin/reset-stuck", params={"max_running_time_hours": 100}).json()["reset_jobs"] == 0
    body = client.post("/admin/reset-stuck").json()
    assert (body["reset_jobs"], body["requeued"], body["failed"]) == (1, [job_id], [])
    assert client.get(f"/status/{job_id}").json()["status"] == "pending"


def test_reset_stuck_fails_jobs_without_attempts_left(client: TestClient[Litestar], old_store: Store) -> None:
    job_id = old_store.create_job(WORKFLOW, max_attempts=1).id
    claim(old_store, job_id)
    assert client.post("/admin/reset-stuck").json()["failed"] == [job_id]
    assert client.get(f"/status/{job_id}").json()["status"] == "failed"


@pytest.mark.parametrize(("path", "params"), [("/admin/cleanup", {"max_age_hours": -1}),
                                              ("/admin/cleanup", {"max_age_hours": "old"}),
                                              ("/admin/reset-stuck", {"max_running_time_hours": -2})])
def test_admin_rejects_bad_hours(client: TestClient[Litestar], path: str, params: dict[str, object]) -> None:
    response = client.post(path, params=params)
    assert response.status_code == 400 and response.json()["detail"]


def test_delete_job_removes_a_terminal_job(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    response = client.delete(f"/admin/job/{job_id}")
    assert (response.status_code, response.json()["deleted"]) == (200, True)
    assert client.get(f"/status/{job_id}").status_code == 404
    assert store.get_outputs(job_id) == []


def test_delete_job_is_409_while_pending_or_running(client: TestClient[Litestar], store: Store) -> None:
    pending = submit(client)
    assert client.delete(f"/admin/job/{pending}").status_code == 409
    claim(store, pending)
    response = client.delete(f"/admin/job/{pending}")
    assert response.status_code == 409 and "running" in response.json()["detail"]


def test_delete_unknown_job_is_404(client: TestClient[Litestar]) -> None:
    assert client.delete("/admin/job/nope").status_code == 404
