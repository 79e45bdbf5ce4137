"""``GET /ready`` and MAX_QUEUE_DEPTH on the real ``comfyui-worker run``, with the fake ComfyUI standing in."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


def make(daemons: list[RunningDaemon], tmp_path: Path, **env: str) -> RunningDaemon:
    d = RunningDaemon(tmp_path, **env)
    daemons.append(d)
    return d.start()


def ready(d: RunningDaemon, **headers: str) -> tuple[int, dict[str, Any]] | None:
    try:
        response = d.client.get(f"{d.url}/ready", headers=headers, timeout=2)
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


def test_ready_only_once_a_comfyui_runs_before_that_503_naming_it(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, FAKE_COMFYUI_STARTUP_DELAY_MS="2500")
    starting = d.wait_for(lambda: (r := ready(d)) and r[0] == 503 and r, 20, "/ready answering 503")
    assert starting[1]["status"] == "not_ready"
    assert any(reason.startswith("comfyui-0 is ") or reason.startswith("executor-0 is ")
               for reason in starting[1]["reasons"]), starting
    assert "ready_instances" not in starting[1]  # none yet
    _code, body = d.wait_for(lambda: (r := ready(d)) and r[0] == 200 and r, 30, "/ready answering 200")
    assert body["status"] == "ready" and body["ready_instances"] == ["comfyui-0"] and "reasons" not in body
    assert body["pending_jobs"] == 0 and "max_queue_depth" not in body  # no limit by default
    job = d.submit(1)
    d.wait_jobs([job], {"completed"}, 20)


def test_max_queue_depth_answers_429_with_retry_after_and_ready_503(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, MAX_QUEUE_DEPTH="2", PIPELINE_DEPTH="1", FAKE_COMFYUI_DELAY_MS="1500")
    d.wait_ready()
    first = d.submit(1)
    d.wait_running_job()  # claimed: no longer pending
    queued = [d.submit(2), d.submit(3)]
    refused = d.client.post(f"{d.url}/run", json={"workflow": workflow(4)})
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "5"
    assert "MAX_QUEUE_DEPTH=2" in refused.json()["detail"] and refused.json()["max_queue_depth"] == 2
    refused_sync = d.client.post(f"{d.url}/runsync?wait=1", json={"workflow": workflow(5)})
    assert refused_sync.status_code == 429 and refused_sync.headers["retry-after"] == "5"
    refused_v2 = d.client.post(f"{d.url}/v2/ep/run", json={"input": {"workflow": workflow(6)}})
    assert refused_v2.status_code == 429 and refused_v2.headers["retry-after"] == "5"  # RunPod's API, same queue
    code, body = ready(d) or (0, {})
    assert code == 503 and body["reasons"] == ["queue full: 2 jobs pending, MAX_QUEUE_DEPTH=2"], body
    assert body["ready_instances"] == ["comfyui-0"]  # ComfyUI is fine: only the queue is full
    assert len(d.jobs()) == 3  # nothing of the refused requests was written
    d.wait_jobs([first, *queued], {"completed"}, 30)
    assert (ready(d) or (0,))[0] == 200
    d.wait_jobs([d.submit(6)], {"completed"}, 20)


def test_max_queue_depth_holds_for_a_burst_of_concurrent_submits(daemons, tmp_path) -> None:
    """Submits of one event-loop turn share a commit: only as many as the queue has room for are written."""
    d = make(daemons, tmp_path, MAX_QUEUE_DEPTH="3", PIPELINE_DEPTH="1", FAKE_COMFYUI_DELAY_MS="3000")
    d.wait_ready()
    d.submit(0)
    d.wait_running_job()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=10) as client:
            return list(await asyncio.gather(*(client.post(f"{d.url}/run", json={"workflow": workflow(c)})
                                               for c in range(1, 11))))

    answers = asyncio.run(burst())
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 3 + [429] * 7, codes
    assert all(r.headers["retry-after"] == "5" for r in answers if r.status_code == 429)
    assert sum(1 for job in d.jobs().values() if job.status == "pending") == 3


def test_ready_503_below_the_disk_floor_naming_it(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, MIN_FREE_DISK_MB="100000000")  # 100 TB: no disk here has that much room
    code, body = d.wait_for(lambda: (r := ready(d)) and "comfyui-0" in r[1].get("ready_instances", []) and r, 30,
                            "ComfyUI running")
    assert code == 503 and len(body["reasons"]) == 1 and body["reasons"][0].startswith("disk low:"), body
    assert "MIN_FREE_DISK_MB=1e+08" in body["reasons"][0]


def test_ready_says_only_its_status_without_a_key_when_api_key_is_set(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, API_KEY="k" * 32)
    d.wait_for(lambda: (r := ready(d, authorization="Bearer " + "k" * 32)) and r[0] == 200, 30, "ready")
    assert ready(d) == (200, {"status": "ready"})
    assert ready(d, authorization="Bearer wrong") == (200, {"status": "ready"})
