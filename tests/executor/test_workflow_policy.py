"""The executor's own check of a job's workflow (store/policy.py) before ComfyUI sees it: file-naming inputs
read only the job's images or plain shared files, and the operator's node lists hold for jobs already queued."""

from __future__ import annotations

from typing import Any

import pytest

from store import InputImage, JobStatus, Store
from tests.executor.conftest import load_workflow, png, save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import decode_png


def _plant(fake: FakeComfyUI) -> dict[str, str]:
    """Readable PNGs outside what a job may name; returns attack name -> the file it would read."""
    base = fake.input_dir.parent
    files = {
        str(base / "secret.png"): base / "secret.png",  # absolute
        "../secret.png": base / "secret.png",  # relative, out of the input folder
        "x.png [output]": fake.output_dir / "x.png",  # annotated: the output folder
        "jobs/0000-other-job/in.png": fake.input_dir / "jobs" / "0000-other-job" / "in.png",  # another job's
        "sub\\in.png": fake.input_dir / "sub\\in.png",  # a backslash (a plain character on Linux)
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(0x405060))
    return {name: str(path) for name, path in files.items()}


ATTACKS = ["absolute", "../secret.png", "x.png [output]", "jobs/0000-other-job/in.png", "sub\\in.png"]


def _attack_name(attack: str, fake: FakeComfyUI) -> str:
    return str(fake.input_dir.parent / "secret.png") if attack == "absolute" else attack


@pytest.mark.parametrize("attack", ATTACKS)
async def test_a_file_outside_the_jobs_own_fails_as_invalid_input_before_comfyui(
        attack: str, store: Store, fake_comfyui: FakeComfyUI, executor_factory: Any) -> None:
    _plant(fake_comfyui)
    name = _attack_name(attack, fake_comfyui)
    job = store.create_job(load_workflow(name), images=[InputImage("own.png", png(1))])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED, done.result
    assert done.error is not None and done.error["type"] == "invalid_input"
    assert (done.error["node_id"], done.error["class_type"], done.error["input"]) == ("1", "LoadImage", "image")
    assert done.attempts == 1  # never retried
    assert fake_comfyui.stats()["received"] == 0 and fake_comfyui.stats()["uploads"] == 0


async def test_the_error_is_the_same_whether_the_file_exists_or_not(store: Store, fake_comfyui: FakeComfyUI,
                                                                   executor_factory: Any) -> None:
    _plant(fake_comfyui)
    there = store.create_job(load_workflow("../secret.png"))
    missing = store.create_job(load_workflow("../secrex.png"))
    async with executor_factory(fake_comfyui):
        a, b = await wait_status(store, there.id), await wait_status(store, missing.id)
    assert a.error is not None and b.error is not None
    assert a.error == {**b.error, "message": b.error["message"].replace("secrex", "secret")}


async def test_own_images_and_a_plain_shared_file_still_load(store: Store, fake_comfyui: FakeComfyUI,
                                                            executor_factory: Any) -> None:
    (fake_comfyui.input_dir / "shared.png").write_bytes(png(0x102030))
    own = store.create_job(load_workflow("own.png"), images=[InputImage("own.png", png(0x0A0B0C))])
    shared = store.create_job(load_workflow("shared.png"))
    async with executor_factory(fake_comfyui):
        done_own, done_shared = await wait_status(store, own.id), await wait_status(store, shared.id)
    assert done_own.status is done_shared.status is JobStatus.COMPLETED, (done_own.error, done_shared.error)
    assert decode_png(store.get_outputs(own.id)[0].data)[0].data[:3] == bytes((0xF5, 0xF4, 0xF3))
    assert decode_png(store.get_outputs(shared.id)[0].data)[0].data[:3] == bytes((0xEF, 0xDF, 0xCF))


async def test_the_executor_stores_the_catalog_of_its_comfyui(store: Store, fake_comfyui: FakeComfyUI,
                                                              executor_factory: Any) -> None:
    async with executor_factory(fake_comfyui):
        stored = await wait_until(store.node_catalog, what="the node catalog")
    _, catalog = stored
    assert catalog.file_inputs["LoadImage"] == ("image",)
    assert catalog.file_inputs["EmptyImage"] == () and catalog.file_inputs["SaveImage"] == ()


async def test_a_denied_node_queued_before_the_list_fails_naming_it(store: Store, fake_comfyui: FakeComfyUI,
                                                                   executor_factory: Any) -> None:
    job = store.create_job(save_workflow())  # accepted when EmptyImage was still allowed
    async with executor_factory(fake_comfyui, node_denylist="PythonEval, EmptyImage"):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error is not None
    assert done.error["type"] == "invalid_input" and "NODE_DENYLIST" in done.error["message"]
    assert (done.error["node_id"], done.error["class_type"]) == ("1", "EmptyImage")
    assert fake_comfyui.stats()["received"] == 0


async def test_allowlist_runs_only_listed_nodes_and_leaves_unknown_types_to_comfyui(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory: Any) -> None:
    allowed = store.create_job(save_workflow())
    unlisted = store.create_job(load_workflow("x.png"))  # LoadImage is installed but not listed
    unknown = store.create_job({**save_workflow(), "9": {"class_type": "NotInstalled", "inputs": {}}})
    async with executor_factory(fake_comfyui, node_allowlist="EmptyImage,SaveImage,ImageInvert"):
        done = [await wait_status(store, j.id) for j in (allowed, unlisted, unknown)]
    assert done[0].status is JobStatus.COMPLETED, done[0].error
    assert done[1].error is not None and done[1].error["type"] == "invalid_input"
    assert (done[1].error["node_id"], done[1].error["class_type"]) == ("1", "LoadImage")
    assert done[2].error is not None and done[2].error["type"] == "validation"  # ComfyUI's, as without a list

