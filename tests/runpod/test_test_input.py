"""Off the platform without SERVE_API_LOCALLY, the SDK's test-input mode: one job, then exit 0 or 1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.executor.conftest import save_workflow
from tests.fake_comfyui.harness import FakeComfyUI
from tests.supervisor.harness import ROOT


async def run_transport(db_path: str, cwd: Path, *args: str, level: str = "INFO") -> tuple[int, list[dict]]:
    env = {**os.environ, "SQLITE_DB_PATH": db_path, "HTTP_API_MODE": "false", "COMFY_LOG_LEVEL": level,
           "POLL_INTERVAL_S": "0.02", "PYTHONPATH": str(ROOT)}
    for key in ("RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_WEBHOOK_POST_OUTPUT", "SERVE_API_LOCALLY"):
        env.pop(key, None)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "supervisor", "runpod", *args, cwd=cwd,
                                                env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_test_input_flag_runs_one_job_and_exits_0(
        db_path: str, tmp_path: Path, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    job = json.dumps({"input": {"workflow": save_workflow()}})
    async with executor_factory(fake_comfyui):
        code, records = await run_transport(db_path, tmp_path, "--test_input", job)
    assert code == 0
    finished = [r for r in records if r["event"] == "runpod_job_finished"]
    assert [(r["status"], r["error"]) for r in finished] == [("completed", None)]
    assert all(r["process"] == "runpod" for r in records)  # the SDK's own lines too, as JSON


async def test_test_input_json_file_with_bad_input_exits_1(db_path: str, tmp_path: Path) -> None:
    (tmp_path / "test_input.json").write_text(json.dumps({"input": {"workflow": {}}}))
    code, records = await run_transport(db_path, tmp_path)
    assert code == 1
    assert any(r["event"] == "runpod_job_rejected" for r in records)
