"""Outputs: every file list in history, temp skipped by default, text kept, cached reruns still deliver."""

from __future__ import annotations

from pathlib import Path

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, trace_workflow, wait_status
from tests.fake_comfyui.harness import FakeComfyUI


async def test_multi_output_keeps_files_and_text_and_skips_temp(store: Store, fake_comfyui: FakeComfyUI,
                                                                executor_factory) -> None:
    job = store.create_job(trace_workflow("06_multi_output"))
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    images = done.result["images"]
    assert sorted((i["node_id"], i["subfolder"]) for i in images) == [("2", ""), ("4", "sub/dir")]
    assert all(i["type"] == "base64" and i["content_type"] == "image/png" for i in images)
    [latent] = done.result["files"]
    assert latent["node_id"] == "7" and latent["filename"].endswith(".latent")
    assert done.result["text"] == [{"node_id": "9", "text": "64"}]
    blobs = store.get_outputs(job.id)
    assert len(blobs) == 3 and sorted(b.index for b in blobs) == [0, 1, 2]
    by_index = {b.index: b for b in blobs}
    assert by_index[latent["output_index"]].filename == latent["filename"]


async def test_temp_outputs_included_when_the_job_asks(store: Store, fake_comfyui: FakeComfyUI,
                                                       executor_factory) -> None:
    job = store.create_job(trace_workflow("06_multi_output"), options={"include_temp": True})
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    temp = [i for i in done.result["images"] if i["node_id"] == "5"]
    assert len(temp) == 1 and temp[0]["filename"].startswith("ComfyUI_temp_")


async def test_videos_and_animations_sorted_by_content_type(store: Store, fake_comfyui: FakeComfyUI,
                                                           executor_factory) -> None:
    job = store.create_job(trace_workflow("07_animated_video"))
    async with executor_factory(fake_comfyui, include_temp_outputs=False):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    videos = {v["filename"].rsplit(".", 1)[1]: v for v in done.result["videos"]}
    assert set(videos) == {"mp4", "webm"}
    assert videos["mp4"]["content_type"] == "video/mp4" and videos["mp4"]["subfolder"] == "video"
    assert sorted(i["filename"].rsplit(".", 1)[1] for i in done.result["images"]) == ["png", "webp"]
    blobs = {b.filename: b for b in store.get_outputs(job.id)}
    assert blobs[videos["mp4"]["filename"]].content_type == "video/mp4"


async def test_identical_workflow_twice_yields_outputs_both_times(store: Store, fake_comfyui: FakeComfyUI,
                                                                  executor_factory) -> None:
    workflow = save_workflow("same", color=7)
    first = store.create_job(workflow)
    async with executor_factory(fake_comfyui) as running:
        await wait_status(store, first.id)
        second = store.create_job(workflow)
        done = await wait_status(store, second.id)
        assert running.executor.rt.client  # the same executor served both
    assert done.status is JobStatus.COMPLETED, done.error
    assert len(store.get_outputs(second.id)) == 1
    assert store.get_outputs(second.id)[0].data == store.get_outputs(first.id)[0].data


async def test_cached_rerun_after_outputs_were_deleted_frees_cache_and_reruns(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """Trace 43: the cached run names a deleted file; the executor frees ComfyUI's cache and runs it again."""
    workflow = save_workflow("deleted", color=8)
    first = store.create_job(workflow)
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir)):
        await wait_status(store, first.id)
        assert list(Path(fake_comfyui.output_dir).rglob("*.png")) == []  # removed once stored
        second = store.create_job(workflow)
        done = await wait_status(store, second.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert store.get_outputs(second.id)[0].data.startswith(b"\x89PNG")
    stats = fake_comfyui.stats()
    assert stats["executed"] == 3  # first run, cached run (404), fresh run after /free
    assert list(Path(fake_comfyui.output_dir).rglob("*.png")) == []


async def test_batch_of_three_images(store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    workflow = save_workflow("batch")
    workflow["1"]["inputs"]["batch_size"] = 3
    job = store.create_job(workflow)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert [i["output_index"] for i in done.result["images"]] == [0, 1, 2]
    assert len({i["filename"] for i in done.result["images"]}) == 3


def test_unique_names_never_repeat_even_when_a_prefixed_name_exists() -> None:
    """Names key S3 objects: a repeat would overwrite another output of the same job."""
    from executor.outputs import Fetched
    from executor.protocol import OutputRef
    from executor.storage import unique_names

    def fetched(name: str, subfolder: str = "") -> Fetched:
        return Fetched(ref=OutputRef(node_id="1", key="images", filename=name, subfolder=subfolder, type="output"),
                       data=b"", content_type="image/png")

    names = unique_names([fetched("a.png"), fetched("2_a.png"), fetched("a.png", "sub")])
    assert len(set(names)) == 3, names


async def test_a_cached_rerun_never_returns_another_jobs_file_of_the_same_name(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """Outputs are removed once stored, so ComfyUI's counter reuses names: a file of the cached run's name may be
    another job's (e.g. the one just before it in the pipeline). It is never delivered; the job runs again."""
    workflow = save_workflow("reused", color=9)
    first = store.create_job(workflow)
    async with executor_factory(fake_comfyui, comfyui_output_dir=str(fake_comfyui.output_dir)):
        done_first = await wait_status(store, first.id)
        [name] = [i["filename"] for i in done_first.result["images"]]
        (Path(fake_comfyui.output_dir) / name).write_bytes(b"another job's bytes")  # a later job's file
        second = store.create_job(workflow)
        done = await wait_status(store, second.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert store.get_outputs(second.id)[0].data == store.get_outputs(first.id)[0].data
    assert fake_comfyui.stats()["executed"] == 3  # first run, cached run (not trusted), fresh run after /free
