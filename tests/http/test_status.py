"""GET /status/{job_id}: the seed's fields, progress, queue position, outputs inline or not."""

from __future__ import annotations

import base64

from litestar import Litestar
from litestar.testing import TestClient

from store import Progress, Store
from tests.http.conftest import PNG, WORKER, claim, complete, submit

SEED_FIELDS = {"job_id", "status", "result", "error", "created_at", "started_at", "completed_at"}


def test_pending_job_has_the_seed_fields_and_its_queue_position(client: TestClient[Litestar]) -> None:
    first, second = submit(client), submit(client)
    body = client.get(f"/status/{second}").json()
    assert body.keys() >= SEED_FIELDS
    assert (body["status"], body["result"], body["error"]) == ("pending", None, None)
    assert body["started_at"] is None
    assert body["queue_position"] == 2 and body["attempts"] == 0 and "progress" not in body
    assert client.get(f"/status/{first}").json()["queue_position"] == 1


def test_higher_priority_jobs_are_ahead_in_the_queue(client: TestClient[Litestar]) -> None:
    low = submit(client)
    high = submit(client, priority=10)
    assert client.get(f"/status/{high}").json()["queue_position"] == 1
    assert client.get(f"/status/{low}").json()["queue_position"] == 2


def test_running_job_shows_progress_and_no_queue_position(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    claim(store, job_id)
    store.record_progress(job_id, WORKER, Progress(value=3, max=20, node="5", node_type="KSampler"))
    body = client.get(f"/status/{job_id}").json()
    assert body["status"] == "running" and body["started_at"] is not None and body["attempts"] == 1
    assert body["progress"] == {"value": 3, "max": 20, "node": "5", "node_type": "KSampler"}
    assert "queue_position" not in body


def test_completed_job_carries_outputs_as_base64(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    body = client.get(f"/status/{job_id}").json()
    assert body["status"] == "completed" and body["completed_at"] >= body["started_at"]
    image = body["result"]["images"][0]
    assert (image["filename"], image["type"]) == ("out.png", "base64")
    assert base64.b64decode(image["data"]) == PNG
    assert "progress" not in body and "queue_position" not in body


def test_outputs_none_skips_the_bytes(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    complete(store, job_id)
    image = client.get(f"/status/{job_id}", params={"outputs": "none"}).json()["result"]["images"][0]
    assert "data" not in image and image["output_index"] == 0


def test_s3_entries_keep_their_url(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    claim(store, job_id)
    result = {"images": [{"filename": "o.png", "type": "s3_url", "data": "https://s3/o.png", "node_id": "2"}]}
    store.complete(job_id, WORKER, result)
    assert client.get(f"/status/{job_id}").json()["result"] == result


def test_failed_job_shows_its_structured_error(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client)
    claim(store, job_id)
    error = {"type": "execution", "message": "boom", "node_id": "2", "node_type": "SaveImage",
             "exception_type": "RuntimeError", "exception_message": "boom"}
    store.fail(job_id, WORKER, error)
    body = client.get(f"/status/{job_id}").json()
    assert (body["status"], body["error"], body["result"]) == ("failed", error, None)


def test_unknown_job_is_404_with_detail(client: TestClient[Litestar]) -> None:
    response = client.get("/status/no-such-job")
    assert response.status_code == 404
    assert "no-such-job" in response.json()["detail"]


def test_unknown_outputs_value_is_400(client: TestClient[Litestar]) -> None:
    job_id = submit(client)
    response = client.get(f"/status/{job_id}", params={"outputs": "zip"})
    assert response.status_code == 400
    assert "outputs" in response.json()["detail"]
