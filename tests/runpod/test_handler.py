"""The handler against a real store, executor and fake ComfyUI: worker-comfyui's input and output shapes."""

from __future__ import annotations

import base64
import json

from store import JobStatus, Store
from tests.executor.conftest import load_workflow, png, save_workflow, trace_workflow
from tests.fake_comfyui.harness import FakeComfyUI
from tests.runpod.conftest import b64

# a readable header (the transport measures it) over image data that is not: ComfyUI fails to decode it
BROKEN_PNG = png(8, 8)[:41] + b"definitely not the rest of a png"


async def test_worker_comfyui_request_returns_base64_images(store: Store, fake_comfyui: FakeComfyUI,
                                                            executor_factory, handler_factory) -> None:
    handler = handler_factory()
    rp_job = {"id": "rp-1", "input": {"workflow": load_workflow("in.png"),
                                      "images": [{"name": "in.png", "image": b64(png(0x102030))}]}}
    async with executor_factory(fake_comfyui):
        output = await handler(rp_job)
    assert "error" not in output
    [image] = output["images"]
    assert image["type"] == "base64" and image["filename"].startswith("inv")
    assert base64.b64decode(image["data"]).startswith(b"\x89PNG")
    job = store.get_job(output["job_id"])
    assert job.status is JobStatus.COMPLETED and store.get_inputs(job.id)[0].name == "in.png"


async def test_input_given_as_json_text_is_accepted(fake_comfyui: FakeComfyUI, executor_factory,
                                                    handler_factory) -> None:
    handler = handler_factory()
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-2", "input": json.dumps({"workflow": save_workflow()})})
    assert len(output["images"]) == 1 and "error" not in output


async def test_comfy_org_api_key_is_gone_once_the_job_ended_and_never_returned(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, handler_factory) -> None:
    handler = handler_factory()
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-3", "input": {"workflow": save_workflow(),
                                                        "comfy_org_api_key": "ck-123"}})
    assert len(output["images"]) == 1
    assert "ck-123" not in json.dumps(output)
    assert store.get_job(output["job_id"]).options == {}, "removed once the job ended"


async def test_invalid_input_fails_with_a_message_and_writes_no_job(store: Store, handler_factory) -> None:
    handler = handler_factory()
    bad_image = {"workflow": save_workflow(), "images": [{"name": "a.png", "image": b64(b"not an image")}]}
    output = await handler({"id": "rp-4", "input": bad_image})
    assert output["error"] == ("input 'a.png' is not a PNG, JPEG, WebP or GIF image, an MP4 or WebM video, or WAV, "
                               "MP3, FLAC or Ogg audio")
    assert output["details"] == {"type": "invalid_input", "message": output["error"], "image": "a.png"}
    missing = await handler({"id": "rp-5", "input": None})
    assert "'workflow'" in missing["error"] and missing["details"]["type"] == "invalid_input"
    not_json = await handler({"id": "rp-6", "input": "{nope"})
    assert not_json["error"].startswith("input is not valid JSON")
    assert store.stats()["total"] == 0


async def test_validation_failure_names_the_node(fake_comfyui: FakeComfyUI, executor_factory,
                                                 handler_factory) -> None:
    handler = handler_factory()
    workflow = save_workflow()
    del workflow["1"]["inputs"]["width"]
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-7", "input": {"workflow": workflow}})
    assert output["error"] == ("Prompt outputs failed validation: node 1 (EmptyImage): "
                               "Required input is missing: width")
    assert output["details"]["type"] == "validation"
    assert output["details"]["node_errors"][0]["node_id"] == "1" and output["job_id"]


async def test_unknown_node_class_message_has_comfyuis_details(fake_comfyui: FakeComfyUI, executor_factory,
                                                                handler_factory) -> None:
    handler = handler_factory()
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-8", "input": {
            "workflow": trace_workflow("10_validation_unknown_class_type")}})
    assert output["error"].startswith("Cannot execute because node NoSuchNode does not exist. (Node ID")


async def test_execution_failure_is_an_error_with_the_exception(fake_comfyui: FakeComfyUI, executor_factory,
                                                                handler_factory) -> None:
    handler = handler_factory()
    rp_job = {"id": "rp-9", "input": {"workflow": load_workflow("broken.png"),
                                      "images": [{"name": "broken.png", "image": b64(BROKEN_PNG)}]}}
    async with executor_factory(fake_comfyui):
        output = await handler(rp_job)
    assert output["error"].startswith("LoadImage 1 failed: PIL.UnidentifiedImageError")
    details = output["details"]
    assert (details["type"], details["node_id"], details["exception_type"]) == (
        "execution", "1", "PIL.UnidentifiedImageError")


async def test_refresh_worker_is_returned_on_success_and_failure(fake_comfyui: FakeComfyUI, executor_factory,
                                                                 handler_factory) -> None:
    handler = handler_factory(refresh_worker=True)
    async with executor_factory(fake_comfyui, refresh_worker=True):
        done = await handler({"id": "rp-10", "input": {"workflow": save_workflow()}})
    assert done["refresh_worker"] is True and done["images"]
    rejected = await handler({"id": "rp-11", "input": {}})
    assert rejected["refresh_worker"] is True and rejected["error"]


async def test_without_refresh_worker_the_key_is_absent(fake_comfyui: FakeComfyUI, executor_factory,
                                                        handler_factory) -> None:
    handler = handler_factory()
    async with executor_factory(fake_comfyui):
        output = await handler({"id": "rp-12", "input": {"workflow": save_workflow()}})
    assert "refresh_worker" not in output


async def test_concurrent_jobs_wait_on_the_one_watcher_and_never_read_workflows(store: Store,
                                                                               handler_factory) -> None:
    import asyncio

    from tests.http.test_watcher import SqlLog

    handler = handler_factory()
    log = SqlLog(handler.service.store)
    big = {**save_workflow(), **{str(100 + i): {"class_type": "Note", "inputs": {"text": "x" * 1000}}
                                 for i in range(50)}}
    tasks = [asyncio.create_task(handler({"id": f"rp-w{i}", "input": {"workflow": big}})) for i in range(3)]
    async with asyncio.timeout(5):
        while handler.service.watcher.waiting < 3:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # a few progress rounds
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert store.stats()["cancelled"] == 3
    assert log.reading_requests() == []


async def test_a_refused_input_url_fails_naming_the_entry(store: Store, handler_factory) -> None:
    handler = handler_factory()
    body = {"workflow": save_workflow(), "images": [{"name": "a.png", "image": "http://169.254.169.254/a.png"}]}
    output = await handler({"id": "rp-url", "input": body})
    assert output["error"].startswith("images[0].image ('a.png')") and "link-local" in output["error"]
    assert output["details"]["field"] == "images[0].image" and store.stats()["total"] == 0
