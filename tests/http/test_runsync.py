"""POST /runsync: submit and wait for the end (or until ?wait= runs out)."""

from __future__ import annotations

import threading
import time

from litestar import Litestar
from litestar.testing import TestClient

from store import OutputFile, Store
from tests.http.conftest import PNG, WORKER, WORKFLOW


def _executor(db_path: str, stop: threading.Event) -> None:
    """Completes every job it can claim, like an executor in another process."""
    store = Store(db_path)
    try:
        while not stop.is_set():
            job = store.claim(WORKER)
            if job is None:
                time.sleep(0.01)
                continue
            result = {"images": [{"filename": "o.png", "type": "base64", "output_index": 0}]}
            store.complete(job.id, WORKER, result, [OutputFile(0, "o.png", "image/png", PNG)])
    finally:
        store.close()


def test_runsync_returns_the_finished_job(client: TestClient[Litestar], db_path: str) -> None:
    stop = threading.Event()
    worker = threading.Thread(target=_executor, args=(db_path, stop))
    worker.start()
    try:
        response = client.post("/runsync", json={"workflow": WORKFLOW}, params={"wait": 10})
    finally:
        stop.set()
        worker.join()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["result"]["images"][0]["data"]


def test_runsync_returns_the_pending_job_when_the_wait_runs_out(client: TestClient[Litestar],
                                                                 store: Store) -> None:
    started = time.monotonic()
    response = client.post("/runsync", json={"workflow": WORKFLOW}, params={"wait": 0.2})
    assert 0.2 <= time.monotonic() - started < 2
    body = response.json()
    assert (response.status_code, body["status"], body["queue_position"]) == (200, "pending", 1)
    assert store.get_job(body["job_id"]).status == "pending"


def test_runsync_wait_over_300_is_400_and_no_job(client: TestClient[Litestar], store: Store) -> None:
    response = client.post("/runsync", json={"workflow": WORKFLOW}, params={"wait": 301})
    assert response.status_code == 400 and "wait" in response.json()["detail"]
    assert store.stats()["total"] == 0


def test_runsync_rejects_a_bad_body_like_run(client: TestClient[Litestar], store: Store) -> None:
    response = client.post("/runsync", json={"workflow": {"1": {"class_type": "X"}}})
    assert response.status_code == 400 and response.json()["node_id"] == "1"
    assert store.stats()["total"] == 0


def test_status_wait_answers_as_soon_as_the_job_ends(client: TestClient[Litestar], db_path: str,
                                                     store: Store) -> None:
    job_id = client.post("/run", json={"workflow": WORKFLOW}).json()["job_id"]
    stop = threading.Event()
    later = threading.Timer(0.3, lambda: _executor(db_path, stop))
    later.start()
    try:
        started = time.monotonic()
        response = client.get(f"/status/{job_id}", params={"wait": 20})
        waited = time.monotonic() - started
    finally:
        stop.set()
        later.join()
    assert response.status_code == 200 and response.json()["status"] == "completed"
    assert 0.3 <= waited < 5  # it waited for the executor, and not the whole 20 s


def test_status_wait_returns_the_job_as_it_is_when_the_wait_runs_out(client: TestClient[Litestar]) -> None:
    job_id = client.post("/run", json={"workflow": WORKFLOW}).json()["job_id"]
    started = time.monotonic()
    body = client.get(f"/status/{job_id}", params={"wait": 0.2}).json()
    assert 0.2 <= time.monotonic() - started < 2 and body["status"] == "pending"


def test_status_wait_of_an_unknown_job_is_404_at_once(client: TestClient[Litestar]) -> None:
    started = time.monotonic()
    assert client.get("/status/nope", params={"wait": 30}).status_code == 404
    assert time.monotonic() - started < 2
