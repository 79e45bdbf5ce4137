"""WARMUP_WORKFLOW against a real ComfyUI (COMFYUI_PATH, --cpu) with a real checkpoint: the first client job does
not pay for loading the model.

The checkpoint is made for the test, in a temporary models folder, by the tiny-model maker (``shared/tinymodel``
next to the repository, or TINYMODEL_PATH): a random-weight SD1.5-shaped model that ComfyUI loads through
CheckpointLoaderSimple, jobs of about a second on CPU. Without a warm-up the first job takes about 2.5x the next
ones (the load, and everything torch does the first time); with it, the first job is one like the others. The
comparison is bounded (first <= 1.5x the median of the next four), not a timing target.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supervisor.harness import ROOT, RunningDaemon


def _tinymodel() -> Path | None:
    for candidate in (os.environ.get("TINYMODEL_PATH"), ROOT.parent / "shared" / "tinymodel",
                      ROOT.parent.parent / "shared" / "tinymodel"):
        if candidate and (Path(candidate) / "make_model.py").is_file():
            return Path(candidate)
    return None


TINYMODEL = _tinymodel()
CHECKPOINT = "tiny_random_sd15.safetensors"

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.skipif(TINYMODEL is None, reason="needs shared/tinymodel (or TINYMODEL_PATH)"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl"),
    pytest.mark.timeout(900),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the tiny checkpoint (made here, never committed) and ComfyUI's yaml for it."""
    assert TINYMODEL is not None
    base = tmp_path_factory.mktemp("models")
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    made = subprocess.run([python, str(TINYMODEL / "make_model.py"), "--out", str(base / "checkpoints" / CHECKPOINT)],
                          env={**os.environ, "COMFYUI_PATH": os.environ["COMFYUI_PATH"]}, capture_output=True,
                          timeout=600)
    assert made.returncode == 0, made.stderr.decode()[-2000:]
    (base / "extra_model_paths.yaml").write_text(f"tiny:\n  base_path: {base}\n  checkpoints: checkpoints\n")
    return base


def job(seed: int) -> dict[str, Any]:
    """The tiny model's workflow with another seed: the loader and the prompts are ComfyUI's cache hits, the
    sampler runs for real."""
    assert TINYMODEL is not None
    flow: dict[str, Any] = json.loads((TINYMODEL / "workflow_api.json").read_text())
    flow = copy.deepcopy(flow)
    flow["3"]["inputs"]["seed"] = seed
    return flow


@pytest.fixture
def daemon(tmp_path: Path, models: Path) -> Iterator[RunningDaemon]:
    assert TINYMODEL is not None
    args = f"{os.environ.get('COMFYUI_ARGS', '--cpu')} --extra-model-paths-config {models / 'extra_model_paths.yaml'}"
    d = RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable), COMFYUI_ARGS=args,
                      COMFYUI_HANG_TIMEOUT_S="120", COMFYUI_STARTUP_TIMEOUT_S="300",
                      WARMUP_WORKFLOW=str(TINYMODEL / "workflow_api.json"))
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def ready(d: RunningDaemon) -> bool:
    try:
        return d.client.get(f"{d.url}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def run_sync(d: RunningDaemon, seed: int) -> float:
    """Seconds from submit to the finished job in hand (POST /runsync)."""
    started = time.monotonic()
    response = d.client.post(f"{d.url}/runsync?wait=300", json={"workflow": job(seed)}, timeout=330)
    elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 200 and body["status"] == "completed", body
    assert body["result"]["images"][0]["data"]
    return elapsed


def test_with_a_warmup_the_first_job_is_no_slower_than_the_next(daemon) -> None:
    d = daemon
    d.wait_for(lambda: ready(d), 300, "/ready once ComfyUI is warm")
    warm = d.client.get(f"{d.url}/health").json()["warmup"]["comfyui-0"]
    assert warm["state"] == "ok" and warm["duration_s"] > 0

    times = [run_sync(d, seed) for seed in range(1, 6)]
    first, median = times[0], statistics.median(times[1:])
    nexts = ", ".join(f"{t:.2f}" for t in times[1:])
    print(f"warm-up {warm['duration_s']:.2f} s; first job {first:.2f} s, next {nexts} s (median {median:.2f} s)")
    assert first <= 1.5 * median, (first, times[1:])
    output_dir = d.tmp / "data" / "comfyui-0" / "output"
    d.wait_for(lambda: not [p for p in output_dir.rglob("*") if p.is_file()], 10,
               "the warm-up's and the jobs' files removed (a job's, just after its end is written)")
