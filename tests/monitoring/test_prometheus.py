"""/metrics of a real daemon, checked by the real Prometheus tools: promtool's lint, and a Prometheus server
that scrapes it and answers queries (its HTTP API)."""

from __future__ import annotations

from pathlib import Path

from tests.monitoring.conftest import METRICS_KEY
from tests.monitoring.prometheus import promtool_check, running_prometheus
from tests.supervisor.harness import RunningDaemon


def test_promtool_accepts_the_exposition(exposition: str) -> None:
    """`promtool check metrics`: the text format parses and every name follows the conventions."""
    assert "comfyui_worker_job_duration_seconds_bucket" in exposition
    checked = promtool_check(exposition)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked.stdout + checked.stderr


def test_metrics_need_the_metrics_key(daemon: RunningDaemon) -> None:
    assert daemon.client.get(f"{daemon.url}/metrics").status_code == 401
    wrong = daemon.client.get(f"{daemon.url}/metrics", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and "invalid" in wrong.json()["detail"]


def test_prometheus_scrapes_every_process_figures(daemon: RunningDaemon, tmp_path: Path) -> None:
    """Prometheus (with the key) reads the transport's, the executor's and the supervisor's figures."""
    with running_prometheus(tmp_path, daemon.url.removeprefix("http://"), bearer=METRICS_KEY) as prom:
        prom.wait_value('up{job="comfyui-worker"}', 1)
        prom.wait_value('comfyui_worker_jobs{status="completed"}', 2)
        prom.wait_value('comfyui_worker_jobs{status="failed"}', 1)
        # written by the executor's process: how long the prompts ran in ComfyUI
        prom.wait_value('comfyui_worker_job_comfyui_seconds_count{outcome="completed"}', 2)
        prom.wait_value('comfyui_worker_job_duration_seconds_count{outcome="failed"}', 1)
        # written by the supervisor: a restart of the ComfyUI it supervises
        prom.wait_value('comfyui_worker_component_restarts_total{component="comfyui-0"}', 1)
        prom.wait_value('comfyui_worker_component_state{component="comfyui-0",state="running"}', 1)
        # this process: the route template, never the path
        prom.wait_value('comfyui_worker_http_requests_total{route="/run",method="POST",status="200"}', 3)
        p50 = prom.query('histogram_quantile(0.5, sum by (le) (comfyui_worker_job_duration_seconds_bucket))')
        assert p50 and float(p50[0]["value"][1]) > 0
