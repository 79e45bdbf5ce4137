"""One real daemon (``comfyui-worker run`` with the fake ComfyUI) with some history, shared by the monitoring
tests: two jobs completed, one failed, ComfyUI killed once and restarted. /metrics needs METRICS_API_KEY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.supervisor.harness import RunningDaemon

METRICS_KEY = "scrape-key-0123"
BROKEN = {"1": {"class_type": "NoSuchNode", "inputs": {}},
          "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    tmp: Path = tmp_path_factory.mktemp("monitoring")
    daemon = RunningDaemon(tmp, METRICS_API_KEY=METRICS_KEY).start()
    try:
        daemon.wait_ready()
        ok = [daemon.submit(1), daemon.submit(2)]
        bad = daemon.submit(3, flow=BROKEN)
        daemon.wait_jobs(ok, {"completed"}, 30)
        daemon.wait_jobs([bad], {"failed"}, 30)
        old = daemon.kill9("comfyui-0")
        daemon.wait_restarted("comfyui-0", old)
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.close()


@pytest.fixture(scope="module")
def exposition(daemon: RunningDaemon) -> str:
    """What the daemon's /metrics answers."""
    response = daemon.client.get(f"{daemon.url}/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
    assert response.status_code == 200, response.text
    return response.text
