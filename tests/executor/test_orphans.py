"""A restarted executor removes the prompts its crashed predecessor left in ComfyUI."""

from __future__ import annotations

import asyncio

import httpx

from executor.loop import Executor
from store import JobStatus, Store
from tests.executor.conftest import make_settings, save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI


async def _queue_as(fake: FakeComfyUI, client_id: str, color: int) -> str:
    async with httpx.AsyncClient() as http:
        body = {"prompt": save_workflow(prefix="orphan", color=color), "client_id": client_id}
        answer = await http.post(f"{fake.url}/prompt", json=body)
    assert answer.status_code == 200
    return str(answer.json()["prompt_id"])


async def test_prompts_left_by_a_predecessor_are_interrupted_and_deleted(store: Store, db_path: str,
                                                                         fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.configure(delay_ms=3000, progress_steps=30)
    running = await _queue_as(fake_comfyui, "comfyui-worker-w1", 1)
    queued = await _queue_as(fake_comfyui, "comfyui-worker-w1", 2)
    foreign = await _queue_as(fake_comfyui, "someone-else", 3)
    await wait_until(lambda: running in fake_comfyui.stats()["running"], 5, "the orphan runs")
    job = store.create_job(save_workflow(prefix="mine", color=4))
    own = Store(db_path)
    executor = Executor(make_settings(db_path), own, comfyui_url=fake_comfyui.url, worker_id="w1",
                        client_id="comfyui-worker-w1")
    task = asyncio.create_task(executor.run())
    try:
        await wait_until(lambda: fake_comfyui.stats()["interrupts"] >= 1, 5, "the orphan interrupted")
        fake_comfyui.configure(delay_ms=0)
        done = await wait_status(store, job.id, timeout=15)
        assert done.status is JobStatus.COMPLETED
        stats = fake_comfyui.stats()
        assert queued not in stats["executed_ids"] and stats["interrupts"] == 1
        assert foreign in stats["executed_ids"]  # another client's prompt is left alone
    finally:
        executor.stop()
        await task
        own.close()
