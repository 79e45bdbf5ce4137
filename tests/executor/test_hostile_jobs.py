"""Jobs the transport would refuse, reaching the executor anyway (a prefix arriving through a link, a job stored
before the submit checks): each fails once, classified, instead of three ``comfyui_unavailable`` retries."""

from __future__ import annotations

from typing import Any

import pytest

from store import InputImage, JobStatus, Store
from tests.executor.conftest import load_workflow, png, save_workflow, wait_status
from tests.fake_comfyui.harness import FakeComfyUI


@pytest.mark.parametrize("prefix", ["a\r\nb", "line\n", "bell\x07", "del\x7f"])
async def test_an_output_name_view_cannot_serve_fails_once_naming_the_node(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, prefix: str) -> None:
    """/view drops the connection for such a name (its Content-Disposition header): never asked, never retried."""
    job = store.create_job(save_workflow(prefix=prefix), max_attempts=3)
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir)):
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
    assert done.error["type"] == "invalid_input" and done.error["node_id"] == "2"
    assert done.error["filename"].startswith(prefix) and "cannot serve" in done.error["message"]
    assert fake_comfyui.stats()["received"] == 1
    assert not [p for p in fake_comfyui.output_dir.rglob("*") if p.is_file()]  # the file was not left behind


async def test_a_tab_in_a_prefix_is_served_and_completes(store: Store, fake_comfyui: FakeComfyUI,
                                                         executor_factory) -> None:
    job = store.create_job(save_workflow(prefix="tab\there"))
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.COMPLETED and done.result["images"][0]["filename"].startswith("tab\there")


@pytest.mark.parametrize("name", [".", "a\x7fb.png", "a\x1bb.png", "é" * 126 + ".png", "x.png [output]"])
async def test_an_input_name_comfyui_cannot_store_fails_once(store: Store, fake_comfyui: FakeComfyUI,
                                                             executor_factory, name: str) -> None:
    job = store.create_job(load_workflow(name), images=[InputImage(name, png(0x203040))], max_attempts=3)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
    assert done.error["type"] == "invalid_input", done.error
    # named by the upload-name check, or (no plain file name) by the workflow policy's check before it
    assert done.error.get("name") == name or done.error.get("input") == "image", done.error
    assert fake_comfyui.stats()["uploads"] == 0 and fake_comfyui.stats()["received"] == 0


async def test_a_workflow_too_deep_to_copy_fails_once(store: Store, fake_comfyui: FakeComfyUI,
                                                      executor_factory) -> None:
    deep: Any = 1
    for _ in range(600):
        deep = [deep]
    workflow = load_workflow("in.png")
    workflow["1"]["inputs"]["extra"] = deep  # the image rename deep-copies the workflow
    job = store.create_job(workflow, images=[InputImage("in.png", png(0x405060))], max_attempts=3)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id, timeout=20)
    assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
    assert done.error["type"] == "invalid_input" and "nested too deeply" in done.error["message"]
