"""Opt-in: the executor against a REAL ComfyUI (COMFYUI_PATH=/path/to/ComfyUI), started with --cpu.

Model-free workflows only: EmptyImage -> SaveImage, LoadImage -> ImageInvert -> SaveImage, a validation error,
a runtime error, an interrupt (cancel) of a slow blur chain.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from executor import outputs
from executor.comfy_client import ComfyClient
from executor.loop import Executor
from store import InputImage, JobStatus, Store
from tests.executor.conftest import (
    Running,
    load_workflow,
    make_settings,
    png,
    save_workflow,
    trace_workflow,
    wait_status,
    wait_until,
)

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to run against a real ComfyUI")


class RealComfyUI:
    def __init__(self, base: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.input_dir, self.output_dir = base / "input", base / "output"
        python = os.environ.get("COMFYUI_PYTHON") or sys.executable
        self.proc = subprocess.Popen(
            [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
             "--disable-auto-launch", "--input-directory", str(self.input_dir),
             "--output-directory", str(self.output_dir), "--temp-directory", str(base)],
            cwd=COMFYUI_PATH, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + float(os.environ.get("COMFYUI_STARTUP_TIMEOUT_S", 300))
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "ComfyUI exited during start-up"
            try:
                if httpx.get(self.url + "/system_stats", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise AssertionError("ComfyUI did not answer /system_stats in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealComfyUI]:
    server = RealComfyUI(tmp_path_factory.mktemp("comfyui"))
    yield server
    server.stop()


@asynccontextmanager
async def executor(db_path: str, comfy: RealComfyUI, **overrides: Any) -> AsyncIterator[Running]:
    settings = make_settings(db_path, **{"heartbeat_interval_s": 0.5, "comfyui_input_dir": str(comfy.input_dir),
                                         "comfyui_output_dir": str(comfy.output_dir), **overrides})
    own = Store(db_path)
    ex = Executor(settings, own, comfyui_url=comfy.url, worker_id="e2e", client_id=f"e2e-{time.time_ns()}")
    running = Running(ex, asyncio.create_task(ex.run()))
    try:
        yield running
    finally:
        await running.stop(timeout=60)
        own.close()


async def test_empty_image_saved(store: Store, db_path: str, comfyui: RealComfyUI) -> None:
    job = store.create_job(save_workflow("e2e_basic", size=64))
    async with executor(db_path, comfyui):
        done = await wait_status(store, job.id, timeout=120)
    assert done.status is JobStatus.COMPLETED, done.error
    assert store.get_outputs(job.id)[0].data.startswith(b"\x89PNG")
    assert list(comfyui.output_dir.rglob("e2e_basic*")) == []  # removed once stored


async def test_uploaded_image_inverted_and_rerun_identical(store: Store, db_path: str,
                                                           comfyui: RealComfyUI) -> None:
    image = InputImage("in.png", png(0x204060, 32))
    jobs = [store.create_job(load_workflow("in.png", "e2e_inv"), images=[image])
            for _ in range(2)]  # identical twice: the second is served from cache, its file was deleted
    async with executor(db_path, comfyui):
        done = [await wait_status(store, j.id, timeout=120) for j in jobs]
    assert [d.status for d in done] == [JobStatus.COMPLETED] * 2, [d.error for d in done]
    assert all(store.get_outputs(j.id)[0].data.startswith(b"\x89PNG") for j in jobs)


async def test_validation_error(store: Store, db_path: str, comfyui: RealComfyUI) -> None:
    workflow = save_workflow()
    del workflow["1"]["inputs"]["width"]
    job = store.create_job(workflow)
    async with executor(db_path, comfyui):
        done = await wait_status(store, job.id, timeout=60)
    assert done.error["type"] == "validation" and done.error["node_errors"][0]["node_id"] == "1"


async def test_runtime_error(store: Store, db_path: str, comfyui: RealComfyUI) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + b"not a png at all"
    job = store.create_job(load_workflow("broken.png"), images=[InputImage("broken.png", broken)])
    async with executor(db_path, comfyui):
        done = await wait_status(store, job.id, timeout=60)
    assert done.error["type"] == "execution" and done.error["node_type"] == "LoadImage"


async def test_cancel_interrupts_a_slow_job(store: Store, db_path: str, comfyui: RealComfyUI) -> None:
    blur = {"class_type": "ImageBlur", "inputs": {"blur_radius": 31, "sigma": 10.0}}
    workflow = {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 2048, "height": 2048, "batch_size": 1, "color": 5}},
        "2": {**blur, "inputs": {**blur["inputs"], "image": ["1", 0]}},
        "3": {**blur, "inputs": {**blur["inputs"], "image": ["2", 0]}},
        "4": {**blur, "inputs": {**blur["inputs"], "image": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "e2e_slow"}},
    }
    job = store.create_job(workflow)
    async with executor(db_path, comfyui):
        await wait_until(lambda: (p := store.get_job(job.id).progress) and p.node in {"2", "3"}, 120,
                         "a blur to run")
        store.cancel(job.id)
        done = await wait_status(store, job.id, timeout=60)
    assert done.status is JobStatus.CANCELLED


async def test_files_read_from_disk_are_what_view_answers(comfyui: RealComfyUI) -> None:
    """Trace 06's outputs (images, one in a subfolder, a temp preview, a latent, text) read from ComfyUI's
    output folder: the same bytes and content types as GET /view gives."""
    workflow = trace_workflow("06_multi_output")
    workflow["1"]["inputs"]["color"] = time.time_ns() % 0xFFFFFF  # never from ComfyUI's cache
    client = ComfyClient(comfyui.url)
    try:
        accepted = await client.queue_prompt(workflow, client_id="e2e-cost", prompt_id=f"e2e-{time.time_ns()}")
        entry = None
        for _ in range(600):
            if (entry := await client.history(accepted.prompt_id)) is not None:
                break
            await asyncio.sleep(0.1)
        assert entry is not None, "the prompt did not finish"
        viewed = await outputs.collect(client, entry["outputs"], include_temp=True)
        local = await outputs.collect(client, entry["outputs"], include_temp=True,
                                      output_dir=str(comfyui.output_dir))
    finally:
        await client.close()
    assert local == viewed
    assert sorted((f.ref.type, f.ref.subfolder, f.content_type) for f in local.files) == [
        ("output", "", "image/png"), ("output", "latents", "application/octet-stream"),
        ("output", "sub/dir", "image/png"), ("temp", "", "image/png")]


async def test_a_trivial_job_is_one_request_to_comfyui(store: Store, db_path: str, comfyui: RealComfyUI) -> None:
    """The websocket's executed/execution_success stand in for GET /history, the file is read from disk."""
    job = store.create_job(save_workflow("e2e_cost", color=time.time_ns() % 0xFFFFFF, size=64))
    async with executor(db_path, comfyui, heartbeat_interval_s=30.0) as running:
        done = await wait_status(store, job.id, timeout=120)
        sent = dict(running.executor.client.sent)
    assert done.status is JobStatus.COMPLETED, done.error
    assert store.get_outputs(job.id)[0].data.startswith(b"\x89PNG")
    assert sent == {"GET /system_stats": 1, "GET /queue": 1, "GET /object_info": 1, "POST /prompt": 1}
