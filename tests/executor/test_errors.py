"""Failures become structured errors: validation (400, 200 with node_errors) and execution; never retried."""

from __future__ import annotations

from store import InputImage, JobStatus, Store
from tests.executor.conftest import load_workflow, save_workflow, trace_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI

BROKEN_PNG = b"\x89PNG\r\n\x1a\n" + b"definitely not the rest of a png"


async def test_missing_required_input_is_a_validation_error(store: Store, fake_comfyui: FakeComfyUI,
                                                            executor_factory) -> None:
    workflow = save_workflow()
    del workflow["1"]["inputs"]["width"]
    job = store.create_job(workflow)
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.attempts == 1
    error = done.error
    assert error["type"] == "validation" and error["message"] == "Prompt outputs failed validation"
    assert error["node_errors"] == [{"node_id": "1", "class_type": "EmptyImage", "errors": [
        {"type": "required_input_missing", "message": "Required input is missing", "details": "width"}]}]


async def test_unknown_node_class_is_a_validation_error(store: Store, fake_comfyui: FakeComfyUI,
                                                        executor_factory) -> None:
    job = store.create_job(trace_workflow("10_validation_unknown_class_type"))
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.error["type"] == "validation"
    assert done.error["message"] == "Cannot execute because node NoSuchNode does not exist."
    assert done.error["comfyui_type"] == "invalid_prompt" and done.error["node_errors"] == []


async def test_accepted_prompt_with_node_errors_fails_and_is_removed(store: Store, fake_comfyui: FakeComfyUI,
                                                                     executor_factory) -> None:
    """Trace 21: HTTP 200 that still carries node_errors; only part of the workflow would run."""
    fake_comfyui.configure(delay_ms=2000)
    job = store.create_job(trace_workflow("21_validation_one_bad_branch_of_two"))
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
        assert done.status is JobStatus.FAILED and done.error["type"] == "validation"
        assert done.error["node_errors"][0]["node_id"] == "3"
        assert done.error["node_errors"][0]["errors"][0]["type"] == "required_input_missing"
        await wait_until(lambda: not (s := fake_comfyui.stats())["running"] and not s["pending"], 5,
                         "the prompt to leave ComfyUI")
    assert fake_comfyui.stats()["executed"] <= 1  # deleted while queued, or interrupted while running


async def test_runtime_error_is_an_execution_error(store: Store, fake_comfyui: FakeComfyUI,
                                                   executor_factory) -> None:
    job = store.create_job(load_workflow("broken.png"), images=[InputImage("broken.png", BROKEN_PNG)])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.attempts == 1
    error = done.error
    assert (error["type"], error["node_id"], error["node_type"]) == ("execution", "1", "LoadImage")
    assert error["exception_type"] == "PIL.UnidentifiedImageError"
    assert "cannot identify image file" in error["exception_message"]
    assert "Traceback" not in error["message"]


async def test_runtime_error_keeps_outputs_already_produced(store: Store, fake_comfyui: FakeComfyUI,
                                                            executor_factory) -> None:
    """Trace 24: the good branch ran before the bad one; its image is kept in the failed job's result."""
    job = store.create_job(trace_workflow("24_runtime_error_after_partial_success"),
                           images=[InputImage("broken.png", BROKEN_PNG)])
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error["type"] == "execution"
    [kept] = done.result["images"]
    assert kept["node_id"] == "4"
    assert store.get_outputs(job.id)[0].data.startswith(b"\x89PNG")
