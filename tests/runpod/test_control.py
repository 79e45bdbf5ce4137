"""Progress forwarded while a job waits and runs; RunPod cancelling the handler's task cancels the job."""

from __future__ import annotations

import asyncio

import pytest

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI


async def test_progress_is_forwarded_while_pending_then_running(fake_comfyui: FakeComfyUI, executor_factory,
                                                                handler_factory, progress) -> None:
    fake_comfyui.configure(delay_ms=800, progress_steps=8)
    handler = handler_factory()
    task = asyncio.create_task(handler({"id": "rp-p", "input": {"workflow": save_workflow()}}))
    await wait_until(lambda: progress.sent, 5, "a pending update")  # no executor yet: the job waits
    assert progress.sent[0] == ("rp-p", {"status": "pending", "queue_position": 1})
    async with executor_factory(fake_comfyui):
        output = await asyncio.wait_for(task, 10)
    assert output["images"]
    running = [p for rp_id, p in progress.sent if rp_id == "rp-p" and "value" in p]
    assert running, progress.sent
    assert set(running[0]) == {"status", "value", "max", "percent", "node", "node_type"}
    assert {p["node_type"] for p in running} == {"EmptyImage", "SaveImage"}  # the fake's delay spans both
    ticks = [p for p in running if p["max"]]
    assert ticks and all(p["max"] == 8 and p["percent"] == round(100 * p["value"] / 8, 1) for p in ticks)
    distinct = {tuple(sorted(p.items())) for _, p in progress.sent}
    assert len(progress.sent) == len(distinct), "only changes are sent"


async def test_a_failing_progress_sink_does_not_break_the_job(fake_comfyui: FakeComfyUI, executor_factory,
                                                              handler_factory) -> None:
    handler = handler_factory()

    def broken(rp_job: dict, payload: dict) -> None:
        raise RuntimeError("webhook down")

    handler.send_progress = broken
    fake_comfyui.configure(delay_ms=300, progress_steps=3)
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-b", "input": {"workflow": save_workflow()}})
    assert output["images"]


async def test_cancelled_task_cancels_the_pending_job(store: Store, handler_factory, progress) -> None:
    handler = handler_factory()
    task = asyncio.create_task(handler({"id": "rp-c", "input": {"workflow": save_workflow()}}))
    await wait_until(lambda: progress.sent, 5, "the job to be written")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [job] = store.list_jobs().jobs
    assert job.status is JobStatus.CANCELLED


async def test_sdk_stop_job_cancels_the_running_job_and_interrupts_comfyui(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, handler_factory) -> None:
    """What the platform's stop channel does: ``JobScaler.stop_job(id)`` cancels the job's task."""
    from runpod.serverless.modules.rp_job import run_job
    from runpod.serverless.modules.rp_scale import JobScaler

    async def jobs_handler(session: object, config: dict, job: dict) -> None:
        await run_job(config["handler"], job)

    scaler = JobScaler({"handler": handler_factory(), "jobs_handler": jobs_handler})
    rp_job = {"id": "rp-stop", "input": {"workflow": save_workflow("slow")}}
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    async with executor_factory(fake_comfyui):
        await scaler.jobs_queue.put(rp_job)  # as JobScaler.get_jobs / run_jobs do
        scaler.job_progress.add(rp_job)
        task = asyncio.create_task(scaler.handle_job(None, await scaler.jobs_queue.get()))  # type: ignore[arg-type]
        scaler.jobs_tasks[rp_job["id"]] = task
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        assert await scaler.stop_job("rp-stop")
        with pytest.raises(asyncio.CancelledError):
            await task
        [job] = store.list_jobs().jobs
        done = await wait_status(store, job.id, timeout=5)
    assert done.status is JobStatus.CANCELLED and done.error["type"] == "cancelled"
    assert fake_comfyui.stats()["interrupts"] == 1


async def test_cancel_after_the_end_changes_nothing(store: Store, fake_comfyui: FakeComfyUI, executor_factory,
                                                    handler_factory) -> None:
    handler = handler_factory()
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-late", "input": {"workflow": save_workflow()}})
    handler._cancel(output["job_id"], handler.log)
    assert store.get_job(output["job_id"]).status is JobStatus.COMPLETED
