"""``comfyui-worker run`` for real: the ComfyUI it talks to is the one it started, never a stranger on its port."""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fake_comfyui.images import Frame, encode_png, rgb_from_int
from tests.supervisor.harness import RunningDaemon
from tests.supervisor.stranger import Stranger

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


def job_with_image() -> dict[str, Any]:
    png = encode_png(Frame.solid(8, 8, rgb_from_int(0x336699)))
    return {"workflow": {"1": {"class_type": "LoadImage", "inputs": {"image": "secret.png"}},
                         "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "s"}}},
            "images": [{"name": "secret.png", "image": base64.b64encode(png).decode()}]}


def bind_stranger(port: int, timeout_s: float = 5.0) -> Stranger:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return Stranger(port).__enter__()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_a_port_in_use_at_start_is_refused_with_one_line_naming_it_and_its_process(tmp_path: Path) -> None:
    d = RunningDaemon(tmp_path)
    with Stranger(d.comfyui_port) as stranger:
        try:
            d.start()
            assert d.wait_exit(30) == 2
        finally:
            d.close()
    [line] = b"".join(d.stderr).decode().strip().splitlines()
    assert f"COMFYUI_PORT={d.comfyui_port}" in line and f"port {d.comfyui_port}" in line
    assert f"pid {os.getpid()} (" in line  # the test process holds it
    assert stranger.requests == []  # not even a probe


def test_a_stranger_taking_the_port_after_a_crash_gets_nothing_and_the_daemon_gives_up(tmp_path: Path) -> None:
    """ComfyUI dies; a stranger binds its port while the restarted child is still starting: the probe sees the
    listener is not our child (nothing is sent to it), the child is killed, every later start is refused with the
    port and the holder named, and the daemon ends fatal. A job submitted meanwhile never reaches the stranger."""
    d = RunningDaemon(tmp_path, FAKE_COMFYUI_STARTUP_DELAY_MS="3000", RESTART_MAX_FAILURES="3",
                      COMFYUI_STARTUP_TIMEOUT_S="60")
    stranger: Stranger | None = None
    try:
        d.start().wait_ready()
        d.kill9("comfyui-0")
        d.wait_for(lambda: len(d.events("child_started")) >= 4 and d.events("child_started")[-1]["child"]
                   == "comfyui-0", 10, "comfyui restarted")  # spawned: the port was free, it opens in 3 s
        stranger = bind_stranger(d.comfyui_port)
        response = d.client.post(f"{d.url}/run", json=job_with_image())
        assert response.status_code == 200
        [taken] = d.wait_for(lambda: d.events("comfyui_port_taken"), 10, "the stranger noticed")
        assert taken["port"] == d.comfyui_port and f"pid {os.getpid()}" in taken["holder"]
        assert d.wait_exit(30) == 1
        exits = d.events("child_exited") + d.events("child_fatal")
        refused = [r["last_exit"] for r in exits if "spawn failed" in str(r.get("last_exit"))]
        assert refused and f"port {d.comfyui_port}" in refused[0] and f"pid {os.getpid()}" in refused[0]
        assert d.events("child_fatal")[0]["child"] == "comfyui-0"
        assert stranger.requests == []
    finally:
        d.close()
        if stranger is not None:
            stranger.__exit__()
