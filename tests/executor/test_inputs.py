"""Input images: checked, uploaded per job so names never collide, referenced, removed afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from executor.errors import InvalidInput
from executor.inputs import check_name, rewrite_workflow
from store import InputImage, JobStatus, Store
from store.media import media_format
from tests.executor.conftest import load_workflow, png, wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import decode_png


async def test_uploaded_input_is_loaded_and_removed_afterwards(store: Store, fake_comfyui: FakeComfyUI,
                                                               executor_factory) -> None:
    job = store.create_job(load_workflow("in.png"), images=[InputImage("in.png", png(0x102030))])
    async with executor_factory(fake_comfyui, comfyui_input_dir=str(fake_comfyui.input_dir)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    frame, _ = decode_png(store.get_outputs(job.id)[0].data)
    assert frame.data[:3] == bytes((0xFF - 0x10, 0xFF - 0x20, 0xFF - 0x30))
    assert [p for p in Path(fake_comfyui.input_dir).rglob("*") if p.is_file()] == []


async def test_two_jobs_with_same_input_name_never_collide(store: Store, fake_comfyui: FakeComfyUI,
                                                           executor_factory) -> None:
    a = store.create_job(load_workflow("same.png"), images=[InputImage("same.png", png(0x000000))])
    b = store.create_job(load_workflow("same.png"), images=[InputImage("same.png", png(0xFFFFFF))])
    fake_comfyui.configure(delay_ms=100)  # both are in flight at once (pipeline depth 2)
    async with executor_factory(fake_comfyui):
        done_a, done_b = await wait_status(store, a.id), await wait_status(store, b.id)
    assert done_a.status is done_b.status is JobStatus.COMPLETED
    first = decode_png(store.get_outputs(a.id)[0].data)[0].data[:3]
    second = decode_png(store.get_outputs(b.id)[0].data)[0].data[:3]
    assert (first, second) == (b"\xff\xff\xff", b"\x00\x00\x00")  # each job inverted its own image


@pytest.mark.parametrize("name", ["../evil.png", "a/b.png", "a\\b.png", "", "..", "x..png"])
async def test_unsafe_name_fails_before_any_upload(name: str, store: Store, fake_comfyui: FakeComfyUI,
                                                   executor_factory) -> None:
    job = store.create_job(load_workflow("ok.png"),
                           images=[InputImage("ok.png", png(1)), InputImage(name, png(2))])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error["type"] == "invalid_input"
    assert done.attempts == 1
    assert fake_comfyui.stats()["uploads"] == 0 and fake_comfyui.stats()["received"] == 0


async def test_bytes_that_are_no_image_fail_as_invalid_input(store: Store, fake_comfyui: FakeComfyUI,
                                                             executor_factory) -> None:
    job = store.create_job(load_workflow("x.png"), images=[InputImage("x.png", b"hello, not an image")])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.error["type"] == "invalid_input" and "x.png" in done.error["message"]


def test_magic_bytes() -> None:
    assert media_format(png(1)) == "png" and media_format(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert media_format(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert media_format(b"RIFF\0\0\0\0AVI ") is None and media_format(b"") is None


def test_check_name_accepts_plain_names() -> None:
    check_name("photo 1.png")
    with pytest.raises(InvalidInput):
        check_name("../x.png")


def test_rewrite_only_touches_exact_references() -> None:
    workflow = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png", "other": "a.png.bak"}},
                "2": {"class_type": "X", "inputs": {"link": ["1", 0]}}}
    out = rewrite_workflow(workflow, {"a.png": "jobs/j/a.png"})
    assert out["1"]["inputs"] == {"image": "jobs/j/a.png", "other": "a.png.bak"}
    assert workflow["1"]["inputs"]["image"] == "a.png"  # the job's own workflow is untouched
