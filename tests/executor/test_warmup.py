"""The executor's warm-up (WARMUP_WORKFLOW) against the fake ComfyUI: again after an attached ComfyUI came back,
stopped at its deadline, and ComfyUI's runtime error kept as a job's would be."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import JobStatus, Store, WarmupState
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.executor.test_resilience import FakeProcess, fake_process  # noqa: F401  (fixture)
from tests.fake_comfyui.harness import FakeComfyUI


def warmup_file(tmp_path: Path, flow: dict[str, Any]) -> str:
    path = tmp_path / "warmup.json"
    path.write_text(json.dumps(flow))
    return str(path)


def warmup_state(store: Store) -> Any:
    rows = store.warmups()
    return rows[0] if rows else None


def prompt_numbers(url: str) -> dict[str, int]:
    """filename_prefix of each prompt in ComfyUI's history -> its queue number."""
    history = httpx.get(url + "/history", timeout=5).json()
    return {item["prompt"][2]["2"]["inputs"]["filename_prefix"]: item["prompt"][0] for item in history.values()}


@pytest.mark.parametrize("reconnects", [1, 1000], ids=["socket_lost", "socket_reconnected_in_time"])
async def test_an_attached_comfyui_that_came_back_is_warmed_up_again_before_the_next_claim(
        store: Store, fake_process: FakeProcess, executor_factory, tmp_path: Path,  # noqa: F811
        reconnects: int) -> None:
    """Whether the executor saw ComfyUI unavailable (the socket gave up) or only a reconnect: a ComfyUI that
    forgot the warm-up prompt restarted, and gets a new warm-up before the next job."""
    fake_process.start(delay_ms=300)
    path = warmup_file(tmp_path, save_workflow("warmup", color=7))
    async with executor_factory(fake_process.url, warmup_workflow=path, websocket_reconnect_attempts=reconnects,
                                websocket_reconnect_delay_s=0.05) as running:
        await wait_until(lambda: (w := warmup_state(store)) and w.state is WarmupState.OK, 10, "the warm-up")
        assert warmup_state(store).runs == 1 and warmup_state(store).duration_s >= 0.3
        await asyncio.wait_for(running.executor.socket.connected.wait(), 10)
        await wait_until(lambda: running.executor.comfy_ok.is_set(), 10, "claims allowed")
        assert warmup_state(store).runs == 1  # the socket's first connection found the warm-up known
        with pytest.raises(httpx.HTTPError):
            httpx.post(fake_process.url + "/_fake/crash", timeout=2)
        assert fake_process.proc is not None
        await asyncio.to_thread(fake_process.proc.wait, 5)
        await asyncio.to_thread(fake_process.start, 300)  # a new ComfyUI: nothing loaded, an empty history
        job = store.create_job(save_workflow("job"))
        done = await wait_status(store, job.id, timeout=15)
        assert done.status is JobStatus.COMPLETED, done.error
        warm = warmup_state(store)
        assert warm.state is WarmupState.OK and warm.runs == 2
        numbers = prompt_numbers(fake_process.url)
        assert numbers["warmup"] < numbers["job"]  # the new ComfyUI ran the warm-up first


async def test_a_warmup_past_its_deadline_is_interrupted_and_failed_then_jobs_run(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, tmp_path: Path) -> None:
    fake_comfyui.config.delay_ms = 3000
    path = warmup_file(tmp_path, save_workflow("warmup", color=8))
    async with executor_factory(fake_comfyui, warmup_workflow=path, job_timeout_s=0.5):
        await wait_until(lambda: (w := warmup_state(store)) and w.state is WarmupState.FAILED, 10, "a failed warm-up")
        warm = warmup_state(store)
        assert warm.error["type"] == "timeout" and "JOB_TIMEOUT_S=0.5" in warm.error["message"]
        assert 0.5 <= warm.duration_s < 3.0  # stopped, not waited out
        history = httpx.get(fake_comfyui.url + "/history", timeout=5).json()
        assert [entry["status"]["status_str"] for entry in history.values()] == ["error"]  # interrupted
        fake_comfyui.config.delay_ms = 0
        job = store.create_job(save_workflow("job"))
        done = await wait_status(store, job.id, timeout=10)
        assert done.status is JobStatus.COMPLETED, done.error


async def test_a_runtime_error_of_the_warmup_is_kept_as_comfyui_gave_it(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, tmp_path: Path) -> None:
    (fake_comfyui.input_dir / "broken.png").write_bytes(b"not an image at all")
    flow = {"1": {"class_type": "LoadImage", "inputs": {"image": "broken.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "warmup"}}}
    async with executor_factory(fake_comfyui, warmup_workflow=warmup_file(tmp_path, flow)):
        await wait_until(lambda: (w := warmup_state(store)) and w.state is WarmupState.FAILED, 10, "a failed warm-up")
    error = warmup_state(store).error
    assert error["type"] == "execution" and error["node_id"] == "1" and error["node_type"] == "LoadImage"
    assert error["exception_type"] and error["exception_message"]
