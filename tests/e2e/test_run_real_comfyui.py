"""``comfyui-worker run`` against a real ComfyUI (COMFYUI_PATH, started with --cpu): jobs survive kill -9.

Skipped unless COMFYUI_PATH is set. Model-free workflows only.
"""

from __future__ import annotations

import collections
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.supervisor.harness import RunningDaemon, heavy_workflow

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
                      COMFYUI_STARTUP_TIMEOUT_S="300", JOB_MAX_ATTEMPTS="6")
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def test_jobs_complete_once_through_kill_9_of_each_child_and_sigterm_leaves_nothing(daemon) -> None:
    d = daemon
    d.wait_ready(timeout=300)
    ids = [d.submit(c) for c in range(3)]
    d.wait_jobs(ids, {"completed"}, 120)

    ids += [d.submit(c, flow=heavy_workflow(c)) for c in range(10, 13)]
    d.wait_running_job(60)
    d.wait_restarted("executor-0", d.kill9("executor-0"), 120)

    ids += [d.submit(c, flow=heavy_workflow(c)) for c in range(20, 23)]
    d.wait_running_job(60)
    d.wait_restarted("comfyui-0", d.kill9("comfyui-0"), 300)

    old_http = d.kill9("http")
    ids += [d.submit(c) for c in range(30, 33)]
    d.wait_restarted("http", old_http, 60)

    d.wait_jobs(ids, {"completed"}, 300)
    completions = collections.Counter(r["job_id"] for r in d.events("job_completed"))
    assert max(completions.values()) == 1
    d.signal(signal.SIGTERM)
    assert d.wait_exit(120) == 0
    assert d.leftovers() == []
