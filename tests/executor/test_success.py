"""A plain job runs to completion with its outputs stored; the executor keeps only what it should."""

from __future__ import annotations

import structlog

from executor.job import JobRun
from executor.references import Fetcher
from executor.runtime import Runtime
from executor.storage import StoreSink
from store import JobStatus, Store
from tests.executor.conftest import make_settings, save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI


async def test_job_completes_with_image_stored_as_blob(store: Store, fake_comfyui: FakeComfyUI,
                                                       executor_factory) -> None:
    job = store.create_job(save_workflow("basic"))
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.attempts == 1
    [entry] = done.result["images"]
    assert entry["type"] == "base64" and entry["output_index"] == 0 and entry["node_id"] == "2"
    assert entry["filename"].startswith("basic_") and entry["content_type"] == "image/png"
    [blob] = store.get_outputs(job.id)
    assert blob.data.startswith(b"\x89PNG") and blob.filename == entry["filename"]
    assert set(done.result) == {"images"}


async def test_running_job_is_heartbeated(store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    fake_comfyui.configure(delay_ms=3000, progress_steps=0)  # silent: only heartbeats touch the row
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, heartbeat_interval_s=0.05):
        first = (await wait_until(lambda: store.get_job(job.id).heartbeat_at, 5, "a claim")) or 0.0
        await wait_until(lambda: (store.get_job(job.id).heartbeat_at or 0) > first + 0.1, 3, "a renewal")
        store.cancel(job.id)
        await wait_status(store, job.id)


async def test_websocket_trace_logs_every_frame(store: Store, fake_comfyui: FakeComfyUI,
                                                executor_factory) -> None:
    job = store.create_job(save_workflow())
    with structlog.testing.capture_logs() as logs:
        async with executor_factory(fake_comfyui, websocket_trace=True):
            await wait_status(store, job.id)
    frames = [e["frame"] for e in logs if e["event"] == "websocket_frame" and "frame" in e]
    assert any('"execution_success"' in f for f in frames) and any('"executing"' in f for f in frames)


def test_comfy_org_api_key_from_job_options_or_settings(store: Store, db_path: str) -> None:
    settings = make_settings(db_path, comfy_org_api_key="from-env")
    rt = Runtime(settings=settings, store=store, client=None, sink=StoreSink(), worker_id="w", client_id="c",
                 routes={}, on_unavailable=lambda: None, fetcher=Fetcher(settings))
    plain = store.create_job(save_workflow())
    own = store.create_job(save_workflow(), options={"comfy_org_api_key": "from-job"})
    assert JobRun(rt, plain, None)._extra_data() == {"api_key_comfy_org": "from-env"}
    assert JobRun(rt, own, None)._extra_data() == {"api_key_comfy_org": "from-job"}
