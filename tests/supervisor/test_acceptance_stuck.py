"""``comfyui-worker run`` for real: a stuck-job reset never runs a job twice while its executor is alive."""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

WEEK_S = 7 * 86400


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, FAKE_COMFYUI_DELAY_MS="4000", FAKE_COMFYUI_PROGRESS_STEPS="20")
    yield d
    d.close()


def submit_long(d: RunningDaemon) -> str:
    response = d.client.post(f"{d.url}/run", json={"workflow": workflow(7), "timeout_s": WEEK_S})
    assert response.status_code == 200, response.text
    return str(response.json()["job_id"])


def comfyui_stats(d: RunningDaemon) -> dict[str, Any]:
    """The fake ComfyUI's own counters (test-only route): prompts received, interrupts."""
    return httpx.get(f"http://127.0.0.1:{d.comfyui_port}/_fake/stats", timeout=5).json()  # type: ignore[no-any-return]


def claims(d: RunningDaemon, job_id: str) -> int:
    return collections.Counter(r.get("job_id") for r in d.events("job_claimed"))[job_id]


def test_admin_reset_stuck_zero_stops_a_live_job_through_its_executor(daemon: RunningDaemon) -> None:
    """reset-stuck 0 on a running job: not requeued (one prompt in ComfyUI), interrupted, ends `timeout`."""
    d = daemon.start()
    d.wait_ready()
    job_id = submit_long(d)
    d.wait_for(lambda: comfyui_stats(d)["running"], 10, "the prompt to run in ComfyUI")
    response = d.client.post(f"{d.url}/admin/reset-stuck", params={"max_running_time_hours": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["stopping"], body["requeued"], body["failed"], body["reset_jobs"]) == ([job_id], [], [], 0)
    d.wait_jobs([job_id], {"failed"}, 10)
    job = d.jobs()[job_id]
    assert job.error is not None and job.error["type"] == "timeout" and job.attempts == 1
    stats = comfyui_stats(d)
    assert (stats["received"], stats["interrupts"]) == (1, 1)
    assert claims(d, job_id) == 1


def test_the_hourly_reset_leaves_a_job_within_its_deadline_running(tmp_path: Path) -> None:
    """STUCK_MAX_RUNNING_HOURS=0 and a reset every second: a job with a week's deadline runs once, to its end."""
    d = RunningDaemon(tmp_path, FAKE_COMFYUI_DELAY_MS="4000", CLEANUP_INTERVAL_S="0.5",
                      STUCK_MAX_RUNNING_HOURS="0")
    try:
        d.start().wait_ready()
        job_id = submit_long(d)
        d.wait_jobs([job_id], {"completed", "failed"}, 20)
        assert str(d.jobs()[job_id].status) == "completed"
        assert len(d.events("maintenance_cleanup")) >= 3  # the reset ran while the job did
        assert comfyui_stats(d)["received"] == 1 and claims(d, job_id) == 1
        assert d.events("jobs_recovered") == [] and d.events("jobs_stop_requested") == []
    finally:
        d.close()
