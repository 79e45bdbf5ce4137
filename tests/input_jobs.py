"""Jobs with inputs by URL through a whole ``comfyui-worker run`` (the fake ComfyUI, or a real one in e2e)."""

from __future__ import annotations

import base64
import time
from typing import Any

from tests.supervisor.harness import RunningDaemon

INVERT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "url_input"}},
}


def run_job(daemon: RunningDaemon, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """POST /run, then GET /status until the job ends; its final status body."""
    response = daemon.client.post(f"{daemon.url}/run", json=body)
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = daemon.client.get(f"{daemon.url}/status/{job_id}").json()
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        assert time.monotonic() < deadline, f"job {job_id} still {status['status']}\n{daemon.tail()}"
        time.sleep(0.1)


def output_png(status: dict[str, Any]) -> bytes:
    [entry] = status["result"]["images"]
    return base64.b64decode(entry["data"])
