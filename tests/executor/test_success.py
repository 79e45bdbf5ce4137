"""A plain job runs to completion with its outputs stored; the executor keeps only what it should."""

from __future__ import annotations

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status
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
