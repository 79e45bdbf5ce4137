"""Cancel (running: interrupt; queued in ComfyUI: delete), per-job deadline, progress in the store."""

from __future__ import annotations

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI


async def test_cancel_running_job_interrupts_it(store: Store, fake_comfyui: FakeComfyUI,
                                                executor_factory) -> None:
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    job = store.create_job(save_workflow("slow"))
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        assert store.cancel(job.id) is JobStatus.RUNNING
        done = await wait_status(store, job.id, timeout=3)
    assert done.status is JobStatus.CANCELLED and done.error["type"] == "cancelled"
    stats = fake_comfyui.stats()
    assert stats["interrupts"] == 1 and not stats["running"]


async def test_cancel_job_queued_in_comfyui_deletes_it(store: Store, fake_comfyui: FakeComfyUI,
                                                       executor_factory) -> None:
    fake_comfyui.configure(delay_ms=1500, progress_steps=10)
    first = store.create_job(save_workflow("first"))
    second = store.create_job(save_workflow("second"))
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: fake_comfyui.stats()["pending"], 5, "the second prompt to wait in ComfyUI")
        store.cancel(second.id)
        cancelled = await wait_status(store, second.id, timeout=3)
        assert cancelled.status is JobStatus.CANCELLED
        assert store.get_job(first.id).status is JobStatus.RUNNING  # the running one is left alone
        fake_comfyui.configure(delay_ms=0)
        done = await wait_status(store, first.id)
    assert done.status is JobStatus.COMPLETED
    stats = fake_comfyui.stats()
    assert stats["interrupts"] == 0 and len(stats["executed_ids"]) == 1  # the deleted prompt never ran


async def test_cancel_pending_job_never_reaches_comfyui(store: Store, fake_comfyui: FakeComfyUI,
                                                        executor_factory) -> None:
    job = store.create_job(save_workflow())
    assert store.cancel(job.id) is JobStatus.CANCELLED
    other = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui):
        await wait_status(store, other.id)
    assert fake_comfyui.stats()["received"] == 1


async def test_deadline_interrupts_and_fails_with_timeout(store: Store, fake_comfyui: FakeComfyUI,
                                                          executor_factory) -> None:
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    job = store.create_job(save_workflow("slow"), timeout_s=0.3)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=4)
        assert done.status is JobStatus.FAILED and done.error["type"] == "timeout"
        assert done.error["timeout_s"] == 0.3
        await wait_until(lambda: not fake_comfyui.stats()["running"], 3, "ComfyUI to be free")
    assert fake_comfyui.stats()["interrupts"] == 1


async def test_job_deadline_default_comes_from_settings(store: Store, fake_comfyui: FakeComfyUI,
                                                        executor_factory) -> None:
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    job = store.create_job(save_workflow("slow"))
    async with executor_factory(fake_comfyui, job_timeout_s=0.3):
        done = await wait_status(store, job.id, timeout=4)
    assert done.error["type"] == "timeout"


async def test_progress_is_recorded_with_node_and_type(store: Store, fake_comfyui: FakeComfyUI,
                                                       executor_factory) -> None:
    fake_comfyui.configure(delay_ms=3000, progress_steps=100)
    job = store.create_job(save_workflow("slow"))
    async with executor_factory(fake_comfyui, progress_throttle_s=0.05):
        progress = await wait_until(lambda: (p := store.get_job(job.id).progress) and p.value > 1 and p, 5,
                                    "progress ticks in the store")
        assert progress.max == 100 and progress.node in {"1", "2"}
        assert progress.node_type == {"1": "EmptyImage", "2": "SaveImage"}[progress.node]
        store.cancel(job.id)
        await wait_status(store, job.id)


async def test_queued_job_is_not_charged_for_its_predecessors_run(store: Store, fake_comfyui: FakeComfyUI,
                                                                   executor_factory) -> None:
    """The deadline counts from when ComfyUI starts the prompt: waiting behind our own slower job is free."""
    fake_comfyui.configure(delay_ms=1500, progress_steps=15)
    first = store.create_job(save_workflow("first"))  # runs 1.5 s, well within the default deadline
    second = store.create_job(save_workflow("second"), timeout_s=0.6)  # queued behind it for 1.5 s
    async with executor_factory(fake_comfyui):
        await wait_until(lambda: len(fake_comfyui.stats()["pending"]) == 1, 5, "the second prompt queued")
        fake_comfyui.configure(delay_ms=0)  # the second one runs in no time once it starts
        done_first = await wait_status(store, first.id)
        done_second = await wait_status(store, second.id)
    assert done_first.status is JobStatus.COMPLETED, done_first.error
    assert done_second.status is JobStatus.COMPLETED, done_second.error
    assert fake_comfyui.stats()["interrupts"] == 0
