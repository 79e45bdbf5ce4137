"""One real ``comfyui-worker run`` (fake ComfyUI) shared by the client tests of a module, and a way to run
``comfyui-worker submit`` against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supervisor.harness import ROOT, RunningDaemon

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


class Daemon(RunningDaemon):
    @property
    def comfyui_url(self) -> str:
        return f"http://127.0.0.1:{self.comfyui_port}"

    def fake(self, **knobs: Any) -> None:
        """Change the fake ComfyUI's knobs (delay_ms, progress_steps)."""
        httpx.post(f"{self.comfyui_url}/_fake/config", json=knobs, timeout=5).raise_for_status()

    def submit_command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``comfyui-worker submit ARGS --url <this daemon>``, stdout a pipe (so: JSON lines)."""
        env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "API_HOST", "API_PORT")}
        return subprocess.run([sys.executable, "-m", "supervisor", "submit", *args, "--url", self.url,
                               "--poll", "0.05"], capture_output=True, text=True, env=env, cwd=str(ROOT),
                              timeout=timeout)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("daemon"))
    d.start()
    try:
        d.wait_ready()
        yield d
    finally:
        d.close()


@pytest.fixture
def fake_delay(daemon: Daemon) -> Iterator[Daemon]:
    """The daemon, with the knobs put back after the test."""
    yield daemon
    daemon.fake(delay_ms=0, progress_steps=10)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed; fails the test if one is not a JSON object."""
    records = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(r, dict) for r in records), text
    return records


def workflow_file(tmp: Path, workflow: dict[str, Any], name: str = "workflow.json") -> str:
    path = tmp / name
    path.write_text(json.dumps(workflow))
    return str(path)
