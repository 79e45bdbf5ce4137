"""An input by URL through ``comfyui-worker run`` and a real ComfyUI (issue 14 item 1): LoadImage -> ImageInvert ->
SaveImage on an image the executor fetched from a loopback HTTP server, every pixel checked.

Skipped unless COMFYUI_PATH is set (COMFYUI_PYTHON: its interpreter).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_comfyui.images import Frame, decode_png, encode_png
from tests.input_jobs import INVERT, output_png, run_job
from tests.input_server import InputServer, Reply, input_server
from tests.supervisor.harness import RunningDaemon

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.timeout(600),
]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                      COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                      COMFYUI_STARTUP_TIMEOUT_S="300", INPUT_URL_ALLOW_PRIVATE="true")
    d.start()
    yield d
    d.close()


@pytest.fixture
def server() -> Iterator[InputServer]:
    with input_server() as s:
        yield s


def gradient() -> Frame:
    """16x8 RGB pixels that all differ, so a shifted, scaled or re-coloured result shows."""
    return Frame(16, 8, bytes(c for y in range(8) for x in range(16) for c in (x * 16, y * 32, (x * 7 + y * 13) % 256)))


def test_an_image_fetched_by_url_is_inverted_pixel_for_pixel(daemon: RunningDaemon, server: InputServer) -> None:
    daemon.wait_ready(timeout=300)
    source = gradient()
    url = server.route("/photo.png?sig=abc", Reply(200, encode_png(source)))
    status = run_job(daemon, {"workflow": INVERT, "images": [{"name": "in.png", "image": url}]}, timeout=180)
    assert status["status"] == "completed", status
    after, _ = decode_png(output_png(status))
    assert (after.width, after.height) == (16, 8)
    # ComfyUI computes in float32 and truncates back to 8 bits: 255 - c, or one less
    assert all(0 <= want - got <= 1 for got, want in zip(after.as_rgb().data, source.inverted().data, strict=True))
    assert server.hits("/photo.png?sig=abc") == 1
