"""RunPod's endpoint API (``/v2``) on ``comfyui-worker run`` against a real ComfyUI, through the runpod SDK's
``Endpoint``. Skipped unless COMFYUI_PATH is set; model-free workflows only (ComfyUI started with --cpu)."""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.supervisor.harness import RunningDaemon, heavy_workflow, workflow

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl"),
    pytest.mark.timeout(600),
]

runpod = pytest.importorskip("runpod")
KEY = "e2e-key"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                      COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                      COMFYUI_STARTUP_TIMEOUT_S="300", API_KEY=KEY)
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def wait_status(job: Any, wanted: set[str], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while (status := job.status()) not in wanted:
        assert time.monotonic() < deadline, f"still {status}, wanted {wanted}"
        time.sleep(0.1)
    return str(status)


def test_the_sdk_runs_jobs_on_a_real_comfyui_through_v2(daemon: RunningDaemon,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    daemon.wait_ready(timeout=300)
    monkeypatch.setattr(runpod, "endpoint_url_base", f"{daemon.url}/v2")
    endpoint = runpod.Endpoint("e2e", api_key=KEY)

    output = endpoint.run_sync({"workflow": workflow(7)}, timeout=120)
    [image] = output["images"]
    assert base64.b64decode(image["data"]).startswith(b"\x89PNG")
    seed = daemon.client.get(f"{daemon.url}/status/{output['job_id']}", params={"outputs": "none"},
                             headers={"Authorization": f"Bearer {KEY}"}).json()
    assert seed["status"] == "completed"

    job = endpoint.run({"workflow": workflow(8)})
    assert job.output(timeout=120)["images"][0]["type"] == "base64"

    slow = [endpoint.run({"workflow": heavy_workflow(c, size=3072)}) for c in range(20, 24)]  # seconds each
    wait_status(slow[0], {"IN_PROGRESS"})
    assert endpoint.health()["workers"]["running"] == 1
    purged = endpoint.purge_queue()  # no ADMIN_API_KEY: API_KEY may purge
    assert purged["removed"] >= 1
    slow[0].cancel()
    ends = [wait_status(j, {"COMPLETED", "CANCELLED", "FAILED", "TIMED_OUT"}) for j in slow]
    assert ends[0] == "CANCELLED" and ends.count("CANCELLED") == 1 + purged["removed"]
    assert set(ends) <= {"COMPLETED", "CANCELLED"}  # the one fed to ComfyUI behind the first runs on

    timed = endpoint.run({"input": {"workflow": heavy_workflow(30, size=3072)},
                          "policy": {"executionTimeout": 1000}})
    assert wait_status(timed, {"COMPLETED", "CANCELLED", "FAILED", "TIMED_OUT"}) == "TIMED_OUT"
