"""Serverless mode against a real ComfyUI (COMFYUI_PATH, started with --cpu): ``comfyui-worker run`` with
HTTP_API_MODE=false behind the RunPod SDK's local API. Skipped unless COMFYUI_PATH is set; model-free
workflows only.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import workflow

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl"),
    pytest.mark.timeout(600),
]


def blurred(color: int, size: int = 1024) -> dict[str, Any]:
    """Slow enough on CPU for the executor to record which node runs."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                      "color": color}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 3.0}},
        "3": {"class_type": "ImageBlur", "inputs": {"image": ["2", 0], "blur_radius": 15, "sigma": 3.0}},
        "4": {"class_type": "ImageScale", "inputs": {"image": ["3", 0], "upscale_method": "nearest-exact",
                                                      "width": 64, "height": 64, "crop": "disabled"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "rp"}},
    }


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def daemon(tmp_path: Path, webhook: Webhook) -> Iterator[ServerlessDaemon]:
    d = ServerlessDaemon(tmp_path, webhook, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                         COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                         COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                         COMFYUI_STARTUP_TIMEOUT_S="300", PROGRESS_THROTTLE_S="0.1")
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def test_serverless_mode_on_a_real_comfyui(daemon: ServerlessDaemon, webhook: Webhook) -> None:
    daemon.wait_ready(timeout=300)
    done = daemon.post("/runsync", {"input": {"workflow": blurred(3)}}).json()
    assert done["status"] == "COMPLETED", done
    [image] = done["output"]["images"]
    assert image["type"] == "base64" and base64.b64decode(image["data"]).startswith(b"\x89PNG")
    daemon.wait_for(lambda: any(u.get("status") == "running" for u in webhook.progress(done["id"])), 10,
                    "a progress update")

    bad = workflow(5)
    bad["1"]["inputs"]["width"] = "wide"
    failed = daemon.post("/runsync", {"input": {"workflow": bad}}).json()
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("Prompt outputs failed validation: node 1 (EmptyImage)")

    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(60) == 0
