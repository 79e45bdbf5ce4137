"""A stuck-job reset never runs a job twice: a live executor keeps its job, or stops it itself (``timeout``)."""

from __future__ import annotations

import time

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI

HOUR = 3600.0


async def test_a_long_job_within_its_deadline_keeps_running_across_the_hourly_reset(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """The hourly maintenance with STUCK_MAX_RUNNING_HOURS=0: the job's own deadline still protects it."""
    fake_comfyui.configure(delay_ms=1500, progress_steps=10)
    job = store.create_job(save_workflow("long"), timeout_s=7 * 24 * HOUR)
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        reset = store.reset_stuck(0, stale_after_s=30, default_timeout_s=HOUR)
        assert (reset.recovered, reset.stopping) == ([], [])
        done = await wait_status(store, job.id, timeout=10)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1, done.error
    stats = fake_comfyui.stats()
    assert (stats["received"], stats["interrupts"]) == (1, 0)


async def test_reset_stuck_zero_stops_a_live_job_through_its_executor(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """POST /admin/reset-stuck?max_running_time_hours=0 semantics: asked to stop, interrupted, `timeout`; one
    prompt in ComfyUI in all (today it is requeued and the same executor runs it again)."""
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    job = store.create_job(save_workflow("long"), timeout_s=7 * 24 * HOUR)
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        reset = store.reset_stuck(0, stale_after_s=30)
        assert (reset.recovered, reset.stopping) == ([], [job.id])
        done = await wait_status(store, job.id, timeout=5)
    assert done.status is JobStatus.FAILED and done.attempts == 1
    assert done.error["type"] == "timeout" and done.error["stopped_by"] == "reset_stuck"
    stats = fake_comfyui.stats()
    assert (stats["received"], stats["interrupts"]) == (1, 1) and not stats["running"]


async def test_a_stop_asked_for_a_job_still_queued_in_comfyui_removes_it(
        store: Store, db_path: str, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """The second, pipelined job waits in ComfyUI's queue: stopped, it leaves the queue and never runs."""
    fake_comfyui.configure(delay_ms=1500, progress_steps=10)
    first = store.create_job(save_workflow("first"), timeout_s=7 * 24 * HOUR)
    second = store.create_job(save_workflow("second"), timeout_s=HOUR)
    later = Store(db_path, clock=lambda: time.time() + 2 * HOUR)  # the hourly round, two hours from now
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: fake_comfyui.stats()["pending"], 5, "the second prompt to wait in ComfyUI")
        reset = later.reset_stuck(0.5, stale_after_s=3 * HOUR, default_timeout_s=HOUR)
        assert (reset.recovered, reset.stopping) == ([], [second.id])
        stopped = await wait_status(store, second.id, timeout=5)
        done = await wait_status(store, first.id, timeout=10)
    assert stopped.status is JobStatus.FAILED and stopped.error["type"] == "timeout"
    assert done.status is JobStatus.COMPLETED
    stats = fake_comfyui.stats()
    assert stats["received"] == 2 and len(stats["executed_ids"]) == 1
    later.close()
