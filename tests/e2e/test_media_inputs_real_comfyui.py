"""Video and audio inputs through ``comfyui-worker run`` and a real ComfyUI (issue 14 item 2): a WebM named
``clip.mp4`` (stored as ``clip.webm``) decoded by LoadVideo -> GetVideoComponents -> SaveImage, and a WAV named
``voice.mp3`` (stored as ``voice.wav``) read by LoadAudio.

Skipped unless COMFYUI_PATH is set; the WebM is made with COMFYUI_PYTHON's PyAV (ComfyUI's own dependency).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media_samples as m
from tests.fake_comfyui.images import decode_png
from tests.input_jobs import run_job
from tests.supervisor.harness import RunningDaemon

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.timeout(600),
]

MAKE_WEBM = """
import av, io, sys, numpy as np
out = io.BytesIO()
c = av.open(out, mode="w", format="webm")
s = c.add_stream("libvpx-vp9", rate=4)
s.width, s.height, s.pix_fmt = 16, 16, "yuv420p"
for i in range(3):
    for p in s.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 3), 60 * i, dtype=np.uint8), format="rgb24")):
        c.mux(p)
for p in s.encode():
    c.mux(p)
c.close()
sys.stdout.buffer.write(out.getvalue())
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    d = RunningDaemon(Path(tmp_path_factory.mktemp("media")), COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                      COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                      COMFYUI_STARTUP_TIMEOUT_S="300")
    d.start()
    d.wait_ready(timeout=300)
    yield d
    d.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_webm_named_mp4_is_decoded_by_load_video(daemon: RunningDaemon) -> None:
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    webm = subprocess.run([python, "-c", MAKE_WEBM], capture_output=True, check=True, timeout=60).stdout
    flow = {"1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
            "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "frames"}}}
    status = run_job(daemon, {"workflow": flow, "images": [{"name": "clip.mp4", "image": b64(webm)}]}, 180)
    assert status["status"] == "completed", status
    frames = [decode_png(base64.b64decode(e["data"]))[0] for e in status["result"]["images"]]
    assert [(f.width, f.height) for f in frames] == [(16, 16)] * 3
    assert frames[0].as_rgb().data[0] < frames[2].as_rgb().data[0]  # the frames got brighter, as encoded


def test_a_wav_named_mp3_is_read_by_load_audio(daemon: RunningDaemon) -> None:
    flow = {"1": {"class_type": "LoadAudio", "inputs": {"audio": "voice.mp3"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    status = run_job(daemon, {"workflow": flow, "images": [{"name": "voice.mp3", "image": b64(m.wav())}]}, 180)
    assert status["status"] == "completed", status
    assert "'sample_rate': 8000" in status["result"]["text"][0]["text"]
