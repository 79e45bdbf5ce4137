"""A job reads only the files it brought, against a real ComfyUI (COMFYUI_PATH, started with --cpu).

Skipped unless COMFYUI_PATH is set. The same attacks as with the fake: refused at submit (400) and, for a job
that reaches the store by another way, by the executor (``invalid_input``) before ComfyUI sees it; the job's
own images and a plain file of the shared input folder still run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from store import Store
from tests.supervisor.harness import RunningDaemon
from tests.workflow_attacks import check_refusals_and_allowed_files, invert, plant

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl"),
    pytest.mark.timeout(600),
]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                      COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                      COMFYUI_STARTUP_TIMEOUT_S="300")
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def test_real_comfyui_jobs_read_only_their_own_or_plain_shared_files(daemon: RunningDaemon) -> None:
    d = daemon
    d.wait_ready(timeout=300)
    check_refusals_and_allowed_files(d, timeout=120)

    # the hole is real: ComfyUI itself accepts an absolute path to an existing image
    secret = str(d.tmp / "secret.png")
    direct = httpx.post(f"http://127.0.0.1:{d.comfyui_port}/prompt", json={"prompt": invert(secret)}, timeout=30)
    assert direct.status_code == 200, direct.text
    httpx.post(f"http://127.0.0.1:{d.comfyui_port}/queue", json={"clear": True}, timeout=30)

    # a job that reached the store another way (queued before this check existed) fails in the executor
    store = Store(d.db_path)
    try:
        ids = [store.create_job(invert(name)).id for name in plant(d)]
        d.wait_jobs(ids, {"failed", "completed"}, 120)
        for job_id in ids:
            job = store.get_job(job_id)
            assert job.error is not None and job.error["type"] == "invalid_input", (job.status, job.error)
            assert (job.error["node_id"], job.error["input"]) == ("1", "image") and job.attempts == 1
        stored = store.node_catalog()
    finally:
        store.close()
    assert stored is not None
    files = stored[1].file_inputs
    assert files["LoadImage"] == ("image",) and files["LoadImageMask"] == ("image",)
    assert files["LoadVideo"] == ("file",) and set(files["Load3D"]) == {"model_file", "image"}
