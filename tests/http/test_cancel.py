"""POST /cancel/{job_id}: pending at once, running through the executor, terminal is 409."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import claim, complete, submit


def test_cancel_pending_job_is_immediate(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    response = client.post(f"/cancel/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert store.get_job(job_id).status == "cancelled"
    assert client.get(f"/status/{job_id}").json()["error"]["type"] == "cancelled"


def test_cancel_running_job_asks_the_executor(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    claim(store, job_id)
    body = client.post(f"/cancel/{job_id}").json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)
    assert store.get_job(job_id).cancel_requested


def test_cancel_terminal_job_is_409(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    response = client.post(f"/cancel/{job_id}")
    assert response.status_code == 409
    assert "completed" in response.json()["detail"]


def test_cancel_unknown_job_is_404(client: TestClient[Litestar]) -> None:
    assert client.post("/cancel/nope").status_code == 404
