"""The real Prometheus tools for the monitoring tests: ``promtool`` and a ``prometheus`` server on loopback.

Debian's ``prometheus`` package has both (CI installs it: .ci/run). Without them a test is skipped on a
developer's machine, and fails in CI (``CI=true``): the acceptance test must run there."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.supervisor.harness import free_ports


def tool(name: str) -> str:
    """The tool's path; skips the test without it, except in CI where its absence is a failure."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is not installed (CI installs Debian's prometheus package: see .ci/run)")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` on an exposition (its lint: names, units, HELP, types)."""
    return subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)


class Prometheus:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log
        self.client = httpx.Client(timeout=10)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of ``promql`` (an empty list when nothing matches yet)."""
        body = self.client.get(f"{self.url}/api/v1/query", params={"query": promql}).json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def wait_value(self, promql: str, wanted: float, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Until ``promql`` has a series whose value is ``wanted`` (the daemon scraped after the change)."""
        deadline, result = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            result = self.query(promql)
            if any(float(series["value"][1]) == wanted for series in result):
                return result
            time.sleep(0.25)
        raise AssertionError(f"{promql} never was {wanted}: {result}\n{self.log.read_text()[-3000:]}")


@contextmanager
def running_prometheus(tmp: Path, target: str, *, bearer: str | None = None) -> Iterator[Prometheus]:
    """A Prometheus server on a free loopback port scraping ``target`` (host:port) every second."""
    port = free_ports(1)
    auth = f"\n    authorization:\n      credentials: {bearer}" if bearer else ""
    config = tmp / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: comfyui-worker
    static_configs:
      - targets: ["{target}"]{auth}
""")
    log = tmp / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([tool("prometheus"), f"--config.file={config}",
                                    f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                                    "--log.level=warn"],
                                   stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.client.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("prometheus did not start\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        yield server
    finally:
        server.client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
