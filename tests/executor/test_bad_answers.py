"""A ComfyUI answering garbage (not JSON, or JSON of another shape): one classified failure, no retry loop.

The fake's ``garble_path`` knob handles a request as usual, then answers 200 with ``garble_body``: what a proxy
error page or a broken extension in front of ComfyUI would send.
"""

from __future__ import annotations

import asyncio

import pytest

from store import InputImage, JobStatus, Store
from tests.executor.conftest import load_workflow, png, save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI

# A prompt seen whole on the websocket needs no GET /history: a silence (no progress for longer than a heartbeat)
# makes the executor ask, and so read the garbled answer.
SILENT = {"delay_ms": 1500, "progress_steps": 0}


@pytest.mark.parametrize(("path", "body", "knobs", "words"), [
    ("/history", "<html><body>502 Bad Gateway</body></html>", SILENT, ("GET /history", "not JSON", "text/html")),
    ("/history", '{"p": ["not", "an", "entry"]}', SILENT, ("GET /history", "another shape",)),
    ("/prompt", "<html>oops</html>", {}, ("POST /prompt", "not JSON")),
    ("/prompt", '{"number": 1}', {}, ("POST /prompt", "prompt_id")),
    ("/queue", '{"queue_running": 5}', {"delay_ms": 1500, "progress_steps": 0}, ("GET /queue", "another shape")),
    ("/queue", '{"queue_running": [[1]]}', {"delay_ms": 1500, "progress_steps": 0}, ("GET /queue", "prompt id")),
])
async def test_a_garbled_answer_fails_the_job_once(store: Store, fake_comfyui: FakeComfyUI, executor_factory,
                                                   path: str, body: str, knobs: dict[str, float],
                                                   words: tuple[str, ...]) -> None:
    fake_comfyui.configure(garble_path=path, garble_body=body, **knobs)
    job = store.create_job(save_workflow(), max_attempts=3)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=20)
        assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
        assert done.error["type"] == "comfyui_bad_response"
        for word in words:
            assert word in done.error["message"], done.error
        assert fake_comfyui.stats()["received"] == 1  # one prompt, not one per attempt
        await wait_until(lambda: not (s := fake_comfyui.stats())["running"] and not s["pending"], 10,
                         "the prompt to leave ComfyUI")
        fake_comfyui.configure(garble_path="")
        after = store.create_job(save_workflow())
        assert (await wait_status(store, after.id, timeout=20)).status is JobStatus.COMPLETED  # still serving


async def test_a_garbled_upload_answer_fails_the_job_once(store: Store, fake_comfyui: FakeComfyUI,
                                                          executor_factory) -> None:
    fake_comfyui.configure(garble_path="/upload", garble_body='{"subfolder": 3}')
    job = store.create_job(load_workflow("in.png"), images=[InputImage("in.png", png(0x336699))])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.FAILED and done.attempts == 1
    assert done.error["type"] == "comfyui_bad_response" and "POST /upload/image" in done.error["message"]
    assert fake_comfyui.stats()["received"] == 0


async def test_a_garbled_readiness_probe_is_not_ready_until_comfyui_answers_properly(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """Before: the probe's decode error killed the executor's connect task for good."""
    fake_comfyui.configure(garble_path="/system_stats")
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui):
        await asyncio.sleep(0.5)  # ten probe intervals: a negative can only be watched over a window
        assert store.get_job(job.id).status is JobStatus.PENDING and fake_comfyui.stats()["received"] == 0
        fake_comfyui.configure(garble_path="")
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.COMPLETED
