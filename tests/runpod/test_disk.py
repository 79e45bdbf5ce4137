"""A RunPod job that finds the store full fails at once with the reason (HTTP's 507): nothing written, the worker
lives on, and the next job after cleanup runs."""

from __future__ import annotations

import time

from store import Store
from store.testing import fill_outputs
from tests.executor.conftest import save_workflow
from tests.fake_comfyui.harness import FakeComfyUI


async def test_a_full_store_fails_the_runpod_job_naming_the_disk_then_recovers(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, handler_factory) -> None:
    handler = handler_factory(min_free_disk_mb=0)
    own = handler.service.store
    own.conn.execute(f"PRAGMA max_page_count = {own.conn.execute('PRAGMA page_count').fetchone()[0]}")
    fill_outputs(store, 20, 64 * 1024, time.time() - 3600)
    output = await handler({"id": "rp-full", "input": {"workflow": save_workflow()}})
    assert output["details"]["type"] == "store_full"
    assert "job store is full" in output["error"] and "MB free on the disk of" in output["error"]
    assert "/admin/cleanup" in output["error"]
    assert store.stats()["total"] == 20
    assert own.cleanup(0) == 20
    async with executor_factory(fake_comfyui):
        done = await handler({"id": "rp-after", "input": {"workflow": save_workflow()}})
    assert "error" not in done and len(done["images"]) == 1
