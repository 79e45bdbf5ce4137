"""Acceptance: the real `comfyui-worker executor` process runs a job, then exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store import JobStatus, Store
from tests.executor.conftest import save_workflow
from tests.fake_comfyui.harness import FakeComfyUI

ROOT = Path(__file__).resolve().parents[2]


def _start(db_path: str, url: str, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "SQLITE_DB_PATH": db_path, "POLL_INTERVAL_S": "0.02",
               "HEARTBEAT_INTERVAL_S": "0.2", "COMFY_LOG_LEVEL": "INFO", "WORKER_ID": "cli-worker", **env}
    return subprocess.Popen([sys.executable, "-m", "supervisor.cli", "executor", "--comfyui-url", url,
                             "--instance", "0"], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_job(store: Store, job_id: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = store.get_job(job_id).status
        if status.terminal:
            return status
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the job did not finish")


def test_executor_process_runs_a_job_and_exits_0_on_sigterm(store: Store, db_path: str,
                                                            fake_comfyui: FakeComfyUI) -> None:
    job = store.create_job(save_workflow("cli"))
    proc = _start(db_path, fake_comfyui.url)
    try:
        assert _wait_job(store, job.id, proc) is JobStatus.COMPLETED
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]  # every line is one JSON object
    events = {line["event"] for line in lines}
    assert {"comfyui_ready", "job_claimed", "job_completed", "executor_stopped"} <= events
    completed = next(line for line in lines if line["event"] == "job_completed")
    assert completed["job_id"] == job.id and completed["process"] == "executor" and completed["instance"] == 0
    assert completed["prompt_id"]  # the prompt_queued line is DEBUG now: its id is on the job's last line
    assert store.get_job(job.id).worker_id == "cli-worker"


def test_a_job_costs_two_info_lines_and_no_per_request_line(store: Store, db_path: str,
                                                          fake_comfyui: FakeComfyUI) -> None:
    """Before: 6 lines per trivial job at INFO (job_claimed, prompt_queued, job_completed and httpx's
    "HTTP Request" line for each of POST /prompt, GET /history, GET /view)."""
    jobs = [store.create_job(save_workflow("lines")) for _ in range(3)]
    proc = _start(db_path, fake_comfyui.url)
    try:
        for job in jobs:
            assert _wait_job(store, job.id, proc) is JobStatus.COMPLETED
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
    finally:
        proc.kill()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    for job in jobs:
        assert [line["event"] for line in lines if line.get("job_id") == job.id] == ["job_claimed", "job_completed"]
    assert not [line for line in lines if line["event"] == "library_log"], "no per-request library lines at INFO"
    assert fake_comfyui.stats()["requests"].get("GET /view") == len(jobs)  # attached: outputs through /view


def test_sigterm_mid_job_releases_it_and_exits_0(store: Store, db_path: str,
                                                 fake_comfyui: FakeComfyUI) -> None:
    fake_comfyui.configure(delay_ms=20_000, progress_steps=100)
    job = store.create_job(save_workflow("long"))
    proc = _start(db_path, fake_comfyui.url, SHUTDOWN_GRACE_S="0.2")
    try:
        deadline = time.monotonic() + 15
        while not fake_comfyui.stats()["running"]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    released = store.get_job(job.id)
    assert released.status is JobStatus.PENDING and released.attempts == 0


def test_executor_claims_nothing_before_comfyui_answers(store: Store, db_path: str, tmp_path: Path) -> None:
    job = store.create_job(save_workflow())
    fake = FakeComfyUI(tmp_path / "late")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        fake.port = s.getsockname()[1]
    proc = _start(db_path, fake.url, COMFYUI_PROBE_INTERVAL_S="0.05", COMFY_LOG_LEVEL="DEBUG")
    try:
        assert proc.stdout is not None
        failed_probes = 0
        while failed_probes < 3:  # it probed three times, found nobody, and must not have claimed
            failed_probes += json.loads(proc.stdout.readline())["event"] == "comfyui_not_ready"
        assert store.get_job(job.id).status is JobStatus.PENDING and proc.poll() is None
        fake.start()
        assert _wait_job(store, job.id, proc) is JobStatus.COMPLETED
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    finally:
        proc.kill()
        fake.stop()
    assert proc.returncode == 0
