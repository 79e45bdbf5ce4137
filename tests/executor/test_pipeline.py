"""Keeping ComfyUI fed, finishing in order, REFRESH_WORKER, and shutdown (finish in grace, else release)."""

from __future__ import annotations

import asyncio

from executor.loop import EXIT_OK, EXIT_REFRESH
from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI


async def test_next_job_waits_in_comfyui_while_one_runs(store: Store, fake_comfyui: FakeComfyUI,
                                                        executor_factory) -> None:
    fake_comfyui.configure(delay_ms=300)
    jobs = [store.create_job(save_workflow(f"p{i}")) for i in range(4)]

    def fed() -> bool:  # a prompt runs in ComfyUI and the next one already waits in its queue
        stats = fake_comfyui.stats()
        return bool(stats["running"] and stats["pending"])

    async with executor_factory(fake_comfyui):
        await wait_until(fed, 5, "the next prompt queued while one runs")
        done = [await wait_status(store, job.id) for job in jobs]
    assert all(j.status is JobStatus.COMPLETED for j in done)
    finished = [j.completed_at for j in done]
    assert finished == sorted(finished)  # in the order ComfyUI ran them


async def test_depth_one_queues_one_prompt_at_a_time(store: Store, fake_comfyui: FakeComfyUI,
                                                     executor_factory) -> None:
    fake_comfyui.configure(delay_ms=200)
    jobs = [store.create_job(save_workflow()) for _ in range(2)]
    async with executor_factory(fake_comfyui, pipeline_depth=1):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "a prompt to run")
        assert fake_comfyui.stats()["pending"] == []
        assert store.stats()["running"] == 1
        for job in jobs:
            await wait_status(store, job.id)


async def test_refresh_worker_exits_3_after_one_job(store: Store, fake_comfyui: FakeComfyUI,
                                                    executor_factory) -> None:
    first, second = store.create_job(save_workflow()), store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, refresh_worker=True) as running:
        code = await asyncio.wait_for(running.task, 10)
    assert code == EXIT_REFRESH
    assert store.get_job(first.id).status is JobStatus.COMPLETED
    assert store.get_job(second.id).status is JobStatus.PENDING  # never claimed
    assert fake_comfyui.stats()["received"] == 1


async def test_stop_lets_running_job_finish_within_grace(store: Store, fake_comfyui: FakeComfyUI,
                                                         executor_factory) -> None:
    fake_comfyui.configure(delay_ms=400)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, shutdown_grace_s=5) as running:
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        late = store.create_job(save_workflow())
        code = await running.stop()
    assert code == EXIT_OK
    assert store.get_job(job.id).status is JobStatus.COMPLETED
    assert store.get_job(late.id).status is JobStatus.PENDING  # nothing claimed after stop


async def test_stop_releases_job_that_outlives_grace(store: Store, fake_comfyui: FakeComfyUI,
                                                     executor_factory) -> None:
    fake_comfyui.configure(delay_ms=10_000, progress_steps=100)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, shutdown_grace_s=0.2) as running:
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        code = await running.stop(timeout=5)
    assert code == EXIT_OK
    released = store.get_job(job.id)
    assert released.status is JobStatus.PENDING and released.attempts == 0  # no attempt spent
    await wait_until(lambda: not fake_comfyui.stats()["running"], 3, "the prompt to be interrupted")


async def test_finished_jobs_are_not_kept_alive_while_the_executor_stays_busy(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """Each run knows its predecessor; a finished run must let go of its own, or a busy executor keeps every
    job it ever ran in memory."""
    import gc

    from executor.job import JobRun

    fake_comfyui.configure(delay_ms=400)
    jobs = [store.create_job(save_workflow(f"m{i}")) for i in range(6)]
    async with executor_factory(fake_comfyui):
        await wait_status(store, jobs[4].id)
        assert store.get_job(jobs[5].id).status is JobStatus.RUNNING  # still busy: a run is active
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, JobRun)]
        assert len(alive) <= 2, [o.job.id for o in alive]
        await wait_status(store, jobs[5].id)


async def test_stop_releases_a_job_still_queued_in_comfyui_at_once(store: Store, fake_comfyui: FakeComfyUI,
                                                                   executor_factory) -> None:
    """On SIGTERM the job waiting behind the running one leaves ComfyUI's queue at once: it is not started
    during the grace period only to be interrupted at its end."""
    fake_comfyui.configure(delay_ms=1500, progress_steps=10)
    first, second = store.create_job(save_workflow("first")), store.create_job(save_workflow("second"))
    async with executor_factory(fake_comfyui, shutdown_grace_s=10) as running:
        await wait_until(lambda: fake_comfyui.stats()["running"] and fake_comfyui.stats()["pending"], 5,
                         "one prompt running, the next queued")
        queued_prompt = fake_comfyui.stats()["pending"][0]
        code = await running.stop(timeout=15)
    assert code == EXIT_OK
    assert store.get_job(first.id).status is JobStatus.COMPLETED
    released = store.get_job(second.id)
    assert released.status is JobStatus.PENDING and released.attempts == 0
    assert queued_prompt not in fake_comfyui.stats()["executed_ids"]  # never started in ComfyUI
