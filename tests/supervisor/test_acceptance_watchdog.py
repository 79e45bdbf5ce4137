"""``comfyui-worker run`` for real: the watchdog restarts a ComfyUI whose prompt ignores its interrupt, or that
stops answering under a job; the stuck job ends as asked, the others are requeued without spending an attempt."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import Store
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

LONG = {"delay_ms": 60_000, "progress_steps": 600}  # a prompt that runs a minute unless interrupted


def fake(d: RunningDaemon, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fake ComfyUI's test-only routes (POST with a body, else GET)."""
    url = f"http://127.0.0.1:{d.comfyui_port}/_fake/{path}"
    response = httpx.post(url, json=body, timeout=5) if body is not None else httpx.get(url, timeout=5)
    return response.json()  # type: ignore[no-any-return]


def submit(d: RunningDaemon, color: int, **fields: Any) -> str:
    response = d.client.post(f"{d.url}/run", json={"workflow": workflow(color), **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["job_id"])


def operations(d: RunningDaemon) -> dict[str, int]:
    store = Store(d.db_path)
    try:
        return {name: op.count for name, op in store.operations().items()}
    finally:
        store.close()


def start(daemons: list[RunningDaemon], tmp_path: Path, **env: str) -> RunningDaemon:
    d = RunningDaemon(tmp_path, INTERRUPT_GRACE_S="1", **env)
    daemons.append(d)
    d.start()
    d.wait_ready()
    return d


def stuck_then_others(d: RunningDaemon, **first: Any) -> tuple[str, list[str], int]:
    """A first job stuck in a node that ignores interrupts, a second queued behind it in ComfyUI, a third
    pending in the store; returns (first, [second, third], ComfyUI's pid)."""
    fake(d, "config", {**LONG, "ignore_interrupt": True})
    pid = int(d.components()["comfyui-0"]["pid"])
    stuck = submit(d, 1, **first)
    others = [submit(d, 2), submit(d, 3)]
    d.wait_for(lambda: len(fake(d, "stats")["running"]) == 1 and len(fake(d, "stats")["pending"]) == 1, 10,
               "one prompt running, one queued behind it")
    return stuck, others, pid


def check_others_and_restart(d: RunningDaemon, others: list[str], pid: int, reason: str) -> None:
    d.wait_restarted("comfyui-0", pid)
    d.wait_jobs(others, {"completed"}, 30)
    jobs = d.jobs()
    assert [jobs[i].attempts for i in others] == [1, 1]  # the queued one was released: no attempt spent
    requested = d.events("comfyui_restart_requested")
    assert [r["reason"] for r in requested] == [reason]
    assert [r["reason"] for r in d.events("comfyui_restart")] == ["executor_watchdog"]
    assert operations(d)[reason] == 1


def test_a_prompt_that_ignores_its_deadline_restarts_comfyui(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """Deadline passed, interrupt ignored for INTERRUPT_GRACE_S: the job fails `timeout`, ComfyUI restarts."""
    d = start(daemons, tmp_path)
    stuck, others, pid = stuck_then_others(d, timeout_s=1)
    d.wait_jobs([stuck], {"failed"}, 20)
    job = d.jobs()[stuck]
    assert job.error is not None and job.error["type"] == "timeout" and job.attempts == 1
    assert [r["reason"] for r in d.events("prompt_did_not_stop")] == ["timeout"]
    check_others_and_restart(d, others, pid, "comfyui_stuck")


def test_a_cancel_that_comfyui_ignores_restarts_comfyui(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """Cancelled while running, interrupt ignored: the job ends `cancelled`, ComfyUI restarts."""
    d = start(daemons, tmp_path)
    stuck, others, pid = stuck_then_others(d)
    assert d.client.post(f"{d.url}/cancel/{stuck}").status_code == 200
    d.wait_jobs([stuck], {"cancelled"}, 20)
    check_others_and_restart(d, others, pid, "comfyui_stuck")


def test_a_comfyui_silent_under_a_job_is_restarted(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """ComfyUI stops answering (HTTP and websocket) while a job runs: restarted by the executor's watchdog long
    before the supervisor's hang timeout; the running job is retried, the queued one loses no attempt."""
    d = start(daemons, tmp_path, COMFYUI_HANG_TIMEOUT_S="300")
    fake(d, "config", LONG)
    pid = int(d.components()["comfyui-0"]["pid"])
    running, queued = submit(d, 1), submit(d, 2)
    d.wait_for(lambda: len(fake(d, "stats")["pending"]) == 1, 10, "the second prompt queued in ComfyUI")
    fake(d, "hang", {"seconds": None})
    d.wait_restarted("comfyui-0", pid, timeout=30)
    d.wait_jobs([running, queued], {"completed"}, 30)
    jobs = d.jobs()
    assert (jobs[running].attempts, jobs[queued].attempts) == (2, 1)
    assert [r["reason"] for r in d.events("comfyui_restart_requested")] == ["comfyui_unresponsive"]
    assert not d.events("comfyui_hung")
    assert operations(d)["comfyui_unresponsive"] == 1
