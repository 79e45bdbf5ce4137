"""Opt-in: a job's ``output.format`` with a REAL ComfyUI (COMFYUI_PATH): its SaveImage PNG (with the workflow in
its text chunks) converted to WebP and JPEG, decoded and pixel-checked."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from store import JobStatus, Store
from tests.e2e.test_executor_real_comfyui import COMFYUI_PATH, RealComfyUI, comfyui, executor  # noqa: F401
from tests.executor.conftest import save_workflow, wait_status
from tests.fake_comfyui.images import rgb_from_int

pytestmark = pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to run against a real ComfyUI")

COLOR = 0x4080C0


async def test_real_outputs_converted(store: Store, db_path: str, comfyui: RealComfyUI) -> None:  # noqa: F811
    jobs = {fmt: store.create_job(save_workflow(f"e2e_{fmt}", color=COLOR, size=48),
                                  options={"output": {"format": fmt, "quality": 90}}) for fmt in ("webp", "jpeg")}
    async with executor(db_path, comfyui):
        done = {fmt: await wait_status(store, job.id, timeout=120) for fmt, job in jobs.items()}
    for fmt, job in done.items():
        assert job.status is JobStatus.COMPLETED, job.error
        [out] = store.get_outputs(job.id)
        assert out.content_type == f"image/{fmt}" and out.filename.endswith(".webp" if fmt == "webp" else ".jpg")
        image = Image.open(io.BytesIO(out.data))
        assert image.format == fmt.upper() and image.size == (48, 48)
        pixel = image.convert("RGB").getpixel((20, 20))
        assert all(abs(a - b) <= 6 for a, b in zip(pixel, rgb_from_int(COLOR), strict=True)), pixel
