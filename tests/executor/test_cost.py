"""What one job costs the executor, counted: requests to ComfyUI, store writes (issue 11, CPU per job).

A trivial job that the websocket followed whole, with ComfyUI's output folder local, is one ``POST /prompt`` and
two store writes (claim, complete with its outputs). History stays the truth whenever there is doubt: after a
reconnect, after a silence, when a node was cached, on errors. A file read from disk is the one ``GET /view``
would have answered; ``/view`` still answers for anything else.
"""

from __future__ import annotations

import asyncio
import collections
import os
import uuid
from pathlib import Path
from typing import Any

from executor import outputs
from executor.comfy_client import ComfyClient
from executor.protocol import OutputRef
from store import InputImage, Job, JobStatus, Store
from tests.executor.conftest import save_workflow, trace_workflow, wait_status, wait_until
from tests.executor.test_errors import BROKEN_PNG
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import decode_png, rgb_from_int

WRITES = ("claim", "heartbeat", "record_progress", "complete", "fail", "finish_cancelled", "requeue", "release")


def count_writes(store: Store) -> collections.Counter[str]:
    """Count the store's writing calls from now on (a claim that found nothing is not counted)."""
    counts: collections.Counter[str] = collections.Counter()
    for name in WRITES:
        method = getattr(store, name)

        def counted(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            result = _method(*args, **kwargs)
            if _name != "claim" or result is not None:
                counts[_name] += 1
            return result

        setattr(store, name, counted)
    return counts


def requests(fake: FakeComfyUI) -> collections.Counter[str]:
    return collections.Counter(fake.stats()["requests"])


async def ready(running: Any) -> None:
    """Until the executor's start-up requests (probe, orphan check, catalog, socket) are behind it."""
    await wait_until(running.executor.comfy_ok.is_set, 10, "the executor to be connected")


def first_pixel(png: bytes) -> bytes:
    frame, _ = decode_png(png)
    return frame.data[:3]


async def test_a_trivial_job_costs_one_request_and_two_store_writes(store: Store, fake_comfyui: FakeComfyUI,
                                                                    executor_factory: Any) -> None:
    """Before: POST /prompt, GET /history and GET /view per job, and a progress write before the complete."""
    local = {"comfyui_output_dir": str(fake_comfyui.output_dir), "progress_throttle_s": 0.5,
             "heartbeat_interval_s": 30.0}
    async with executor_factory(fake_comfyui, **local) as running:
        await ready(running)
        writes = count_writes(running.executor.store)
        before = requests(fake_comfyui)
        colors = [0x102030 + i for i in range(5)]
        jobs = [store.create_job(save_workflow("cost", color=c)) for c in colors]
        done = [await wait_status(store, job.id) for job in jobs]
    assert [d.status for d in done] == [JobStatus.COMPLETED] * 5, [d.error for d in done]
    for job, color in zip(jobs, colors, strict=True):  # each job got its own image, read from disk
        [blob] = store.get_outputs(job.id)
        assert blob.content_type == "image/png" and first_pixel(blob.data) == rgb_from_int(color)
    assert requests(fake_comfyui) - before == {"POST /prompt": 5}
    assert writes == {"claim": 5, "complete": 5}
    assert list(Path(fake_comfyui.output_dir).rglob("*.png")) == []  # still removed once stored


async def test_attached_without_a_local_folder_outputs_come_through_view(store: Store, fake_comfyui: FakeComfyUI,
                                                                        executor_factory: Any) -> None:
    async with executor_factory(fake_comfyui) as running:
        await ready(running)
        before = requests(fake_comfyui)
        job = store.create_job(save_workflow("attached", color=0x445566))
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED
    assert first_pixel(store.get_outputs(job.id)[0].data) == rgb_from_int(0x445566)
    assert requests(fake_comfyui) - before == {"POST /prompt": 1, "GET /view": 1}


async def test_after_a_reconnect_history_decides(store: Store, fake_comfyui: FakeComfyUI,
                                                 executor_factory: Any) -> None:
    """Frames may be lost in the gap (trace 33): the socket's account is not trusted, history is read."""
    fake_comfyui.configure(delay_ms=600, progress_steps=20)
    job = store.create_job(save_workflow("gap", color=0x0A0B0C))
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir),
                                websocket_reconnect_delay_s=0.05, heartbeat_interval_s=30.0):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        before = requests(fake_comfyui)
        assert fake_comfyui.drop_sockets() == 1
        done = await wait_status(store, job.id, timeout=10)
    assert done.status is JobStatus.COMPLETED and done.attempts == 1
    assert first_pixel(store.get_outputs(job.id)[0].data) == rgb_from_int(0x0A0B0C)
    assert (requests(fake_comfyui) - before)["GET /history/{prompt_id}"] >= 1


async def test_a_cached_node_makes_history_decide(store: Store, fake_comfyui: FakeComfyUI,
                                                  executor_factory: Any) -> None:
    """Trace 03: the second job's EmptyImage is cached; the result still comes from history, and is right."""
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir)):
        first = store.create_job(save_workflow("first", color=0x334455))
        await wait_status(store, first.id)
        before = requests(fake_comfyui)
        second = store.create_job(save_workflow("second", color=0x334455))
        done = await wait_status(store, second.id)
    assert done.status is JobStatus.COMPLETED, done.error
    [image] = done.result["images"]
    assert image["filename"].startswith("second") and image["node_id"] == "2"
    assert first_pixel(store.get_outputs(second.id)[0].data) == rgb_from_int(0x334455)
    assert (requests(fake_comfyui) - before)["GET /history/{prompt_id}"] == 1


async def test_a_runtime_error_is_read_from_history(store: Store, fake_comfyui: FakeComfyUI,
                                                    executor_factory: Any) -> None:
    """Trace 24: the good branch's image and the error both come from history."""
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir)) as running:
        await ready(running)
        before = requests(fake_comfyui)
        job = store.create_job(trace_workflow("24_runtime_error_after_partial_success"),
                               images=[InputImage("broken.png", BROKEN_PNG)])
        done: Job = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error["type"] == "execution"
    assert len(done.result["images"]) == 1
    assert (requests(fake_comfyui) - before)["GET /history/{prompt_id}"] == 1


# --- the disk read is what /view answers --------------------------------------------------------------------

async def _run_prompt(client: ComfyClient, workflow: dict[str, Any]) -> dict[str, Any]:
    await client.queue_prompt(workflow, client_id="cost-test", prompt_id=(pid := str(uuid.uuid4())))
    for _ in range(500):
        if (entry := await client.history(pid)) is not None:
            return entry["outputs"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError("the prompt did not finish")


async def test_files_read_from_disk_are_what_view_answers(fake_comfyui: FakeComfyUI) -> None:
    """Every kind of output of traces 06 and 07 (images in a subfolder, latent, video, animations; temp files
    only through /view): the same bytes and content types either way, and no /view for local files."""
    client = ComfyClient(fake_comfyui.url)
    try:
        for trace in ("06_multi_output", "07_animated_video"):
            entry = await _run_prompt(client, trace_workflow(trace))
            viewed = await outputs.collect(client, entry, include_temp=True)
            before = requests(fake_comfyui)
            local = await outputs.collect(client, entry, include_temp=True,
                                          output_dir=str(fake_comfyui.output_dir))
            assert local == viewed and len(local.files) >= 3
            temp = [f for f in local.files if f.ref.type != "output"]
            assert requests(fake_comfyui) - before == ({"GET /view": len(temp)} if temp else {}), trace
    finally:
        await client.close()


async def test_a_file_not_in_the_local_folder_is_asked_for_with_view(tmp_path: Path,
                                                                    fake_comfyui: FakeComfyUI) -> None:
    """A subfolder that is a symlink leaving the folder: not read from disk; /view answers as ComfyUI would
    (its check does not resolve links). A file that is not there at all: /view's 404 makes it missing."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.png").write_bytes(b"\x89PNG outside")
    os.symlink(elsewhere, fake_comfyui.output_dir / "link")
    entry = {"9": {"images": [{"filename": "x.png", "subfolder": "link", "type": "output"},
                              {"filename": "gone.png", "subfolder": "", "type": "output"}]}}
    client = ComfyClient(fake_comfyui.url)
    try:
        before = requests(fake_comfyui)
        collected = await outputs.collect(client, entry, include_temp=False, output_dir=str(fake_comfyui.output_dir))
    finally:
        await client.close()
    assert [f.data for f in collected.files] == [b"\x89PNG outside"]
    assert [r.filename for r in collected.missing] == ["gone.png"]
    assert requests(fake_comfyui) - before == {"GET /view": 2}


def test_names_view_treats_otherwise_are_never_read_from_disk(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("x.png [output]", "x.png[temp]", "..x.png"):
        (tmp_path / name).write_bytes(b"data")

    def ref(filename: str, subfolder: str = "", kind: str = "output") -> OutputRef:
        return OutputRef(node_id="1", key="images", filename=filename, subfolder=subfolder, type=kind)

    root = str(tmp_path)
    assert outputs.local_path(root, ref("x.png [output]")) is None
    assert outputs.local_path(root, ref("x.png[temp]")) is None
    assert outputs.local_path(root, ref("..x.png")) is None
    assert outputs.local_path(root, ref("a/x.png")) is None
    assert outputs.local_path(root, ref("x.png", subfolder="..")) is None
    assert outputs.local_path(root, ref("x.png", kind="temp")) is None
    assert outputs.local_path(None, ref("x.png")) is None
    assert outputs.local_path(root, ref("x.png", subfolder="a")) == os.path.join(os.path.realpath(root), "a", "x.png")
    assert outputs.read_local(root, ref("a", subfolder="")) is None  # a folder: /view decides
