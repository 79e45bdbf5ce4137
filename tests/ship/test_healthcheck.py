"""The Dockerfile's HEALTHCHECK command, run as Docker would against a real server under large downloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import httpx

from tests.http.server import free_port, running_server
from tests.http.test_streaming import MB, finished_job
from tests.ship.files import dockerfile_instructions


def healthcheck_command() -> list[str]:
    """The CMD of the HEALTHCHECK, with this interpreter in place of the image's."""
    [health] = [rest for kind, rest in dockerfile_instructions() if kind == "HEALTHCHECK"]
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[0] == "/app/.venv/bin/python"
    return [sys.executable, *command[1:]]


def _fetch(url: str) -> None:
    with httpx.stream("GET", url, timeout=120) as response:
        for _ in response.iter_raw():
            pass


def test_healthcheck_passes_during_large_downloads_and_ignores_proxy_settings(db_path: str, store) -> None:
    job_id, _ = finished_job(store, [32 * MB])
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens: a check sent through it would fail
    with running_server(db_path) as server:
        env = {**os.environ, "API_PORT": server.url.rsplit(":", 1)[1], "HTTP_PROXY": dead_proxy,
               "http_proxy": dead_proxy}
        downloads = [threading.Thread(target=_fetch, args=(f"{server.url}/status/{job_id}",)) for _ in range(4)]
        for thread in downloads:
            thread.start()
        try:
            codes = [subprocess.run(healthcheck_command(), env=env, timeout=10).returncode for _ in range(5)]
        finally:
            for thread in downloads:
                thread.join(120)
        assert codes == [0] * 5
        unhealthy = {**env, "API_PORT": str(free_port())}
        assert subprocess.run(healthcheck_command(), env=unhealthy, timeout=10).returncode != 0
