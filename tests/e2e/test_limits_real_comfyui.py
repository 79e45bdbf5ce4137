"""Opt-in, against a REAL ComfyUI: what it cannot store or serve back fails the job once, classified.

Measured on ComfyUI 0.3.64: ``POST /upload/image`` answers 500 for the names ``.``, ``a\\x7fb.png``,
``a\\x1bb.png`` and 256 bytes of UTF-8; a SaveImage file named with CR/LF is written, then ``GET /view`` drops
the connection. Before, each of these was retried three times as ``comfyui_unavailable``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from store import InputImage, JobStatus, Store
from tests.e2e.test_executor_real_comfyui import COMFYUI_PATH, RealComfyUI, executor
from tests.executor.conftest import load_workflow, png, save_workflow, wait_status

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to run against a real ComfyUI")


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealComfyUI]:
    server = RealComfyUI(tmp_path_factory.mktemp("comfyui"))
    yield server
    server.stop()


async def test_a_crlf_prefix_fails_once_and_leaves_no_file(store: Store, db_path: str,
                                                           comfyui: RealComfyUI) -> None:
    job = store.create_job(save_workflow("crlf\r\nprefix", size=16), max_attempts=3)
    async with executor(db_path, comfyui):
        done = await wait_status(store, job.id, timeout=120)
    assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
    assert done.error["type"] == "invalid_input" and done.error["node_id"] == "2"
    assert done.error["filename"].startswith("crlf\r\nprefix")
    assert not [p for p in comfyui.output_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize("name", [".", "a\x7fb.png", "é" * 126 + ".png"])
async def test_input_names_comfyui_refuses_fail_once(store: Store, db_path: str, comfyui: RealComfyUI,
                                                     name: str) -> None:
    job = store.create_job(load_workflow(name), images=[InputImage(name, png(0x123456))], max_attempts=3)
    async with executor(db_path, comfyui):
        done = await wait_status(store, job.id, timeout=120)
    assert done.status is JobStatus.FAILED and done.attempts == 1, done.error
    assert done.error["type"] == "invalid_input", done.error
    # named by the upload-name check, or (no plain file name) by the workflow policy's check before it
    assert done.error.get("name") == name or done.error.get("input") == "image", done.error
