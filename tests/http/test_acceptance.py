"""``comfyui-worker http`` as a real process: a job's life over HTTP, JSON logs, clean SIGTERM."""

from __future__ import annotations

import base64
import json

import httpx

from store import Store
from tests.http.conftest import PNG, WORKFLOW, b64, complete
from tests.http.server import running_server


def test_a_job_over_real_http_with_json_logs_and_clean_exit(db_path: str) -> None:
    with running_server(db_path, API_KEY="k3y") as server, httpx.Client(base_url=server.url) as http:
        headers = {"Authorization": "Bearer k3y"}
        assert http.post("/run", json={"workflow": WORKFLOW}).status_code == 401
        body = {"input": {"workflow": WORKFLOW, "images": [{"name": "in.png", "image": b64()}]}}
        job_id = http.post("/run", json=body, headers=headers).json()["job_id"]
        assert http.get(f"/status/{job_id}", headers=headers).json()["queue_position"] == 1

        store = Store(db_path)  # an executor's view of the same store
        assert store.get_inputs(job_id)[0].data == PNG
        complete(store, job_id)
        store.close()

        status = http.get(f"/status/{job_id}", headers=headers).json()
        assert status["status"] == "completed"
        assert base64.b64decode(status["result"]["images"][0]["data"]) == PNG
        output = http.get(f"/jobs/{job_id}/outputs/0", headers=headers)
        assert (output.content, output.headers["content-type"]) == (PNG, "image/png")
        assert http.get("/health", headers=headers).json()["job_stats"]["completed"] == 1
        assert http.get("/health").json() == {"status": "healthy"}
        bad = http.post("/run", content=b"{oops", headers={**headers, "content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["detail"]
        assert server.stop() == 0

    records = [json.loads(line) for line in server.lines]  # every line printed is one JSON object
    assert all(r["process"] == "http" and r["event"] and r["timestamp"] for r in records)
    access = [r for r in records if r["event"] == "http_request"]
    assert {(r["method"], r["path"], r["status"]) for r in access} >= {
        ("POST", "/run", 401), ("POST", "/run", 200), ("POST", "/run", 400)}  # successful reads: DEBUG
    assert all(isinstance(r["duration_ms"], float) for r in access)
    text = b"".join(server.lines).decode()
    assert "SaveImage" not in text and "k3y" not in text  # no bodies, no keys in the logs


def test_open_api_warns_at_start(db_path: str) -> None:
    with running_server(db_path) as server:
        server.stop()
    events = [json.loads(line)["event"] for line in server.lines]
    assert "api_open" in events and "http_starting" in events
