"""``comfyui-worker run`` with a real ComfyUI (COMFYUI_PATH): a port in use is refused, a stranger never gets a
job, and a normal start still works. Skipped unless COMFYUI_PATH is set."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import ports
from tests.supervisor.harness import RunningDaemon
from tests.supervisor.stranger import Stranger
from tests.supervisor.test_acceptance_port import bind_stranger, job_with_image

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl"),
    pytest.mark.timeout(600),
]


def real(tmp_path: Path, **env: str) -> RunningDaemon:
    return RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                         COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                         COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                         COMFYUI_STARTUP_TIMEOUT_S="300", **env)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = real(tmp_path, RESTART_MAX_FAILURES="2")
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def test_a_port_in_use_is_refused_before_comfyui_is_started(tmp_path: Path) -> None:
    d = real(tmp_path)
    with Stranger(d.comfyui_port) as stranger:
        try:
            assert d.start().wait_exit(60) == 2
        finally:
            d.close()
    [line] = b"".join(d.stderr).decode().strip().splitlines()
    assert f"port {d.comfyui_port} on 127.0.0.1 is already in use by pid {os.getpid()} (" in line
    assert d.events("child_started") == [] and stranger.requests == []


def test_a_normal_start_serves_jobs_and_a_stranger_after_a_crash_gets_nothing(daemon: RunningDaemon) -> None:
    d = daemon.start()
    d.wait_ready(timeout=300)
    comfy_pid = d.components()["comfyui-0"]["pid"]
    assert ports.owner(d.comfyui_port, comfy_pid) is ports.Owner.OURS
    response = d.client.post(f"{d.url}/run", json=job_with_image())
    assert response.status_code == 200, response.text
    job_id = response.json()["job_id"]
    d.wait_jobs([job_id], {"completed", "failed"}, 120)
    assert str(d.jobs()[job_id].status) == "completed", d.jobs()[job_id].error
    assert d.events("comfyui_owner_unverified") == [] and d.events("comfyui_port_taken") == []

    d.kill9("comfyui-0")
    stranger = bind_stranger(d.comfyui_port)
    try:
        response = d.client.post(f"{d.url}/run", json=job_with_image())
        assert response.status_code == 200
        assert d.wait_exit(120) == 1  # every restart refused while the stranger holds the port: fatal
        exits = d.events("child_exited") + d.events("child_fatal")
        refused = [str(r["last_exit"]) for r in exits if "spawn failed" in str(r.get("last_exit"))]
        taken = d.events("comfyui_port_taken")
        assert refused or taken
        assert all(f"pid {os.getpid()}" in text for text in refused + [str(t["holder"]) for t in taken])
        assert stranger.requests == []
        assert d.leftovers() == []
    finally:
        stranger.__exit__()
