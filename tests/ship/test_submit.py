"""``comfyui-worker submit`` against a running daemon: outputs written, exit codes, JSON lines on a pipe."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.ship.conftest import Daemon, json_lines, workflow_file
from tests.supervisor.harness import ROOT, workflow

BAD_NODE = {"1": {"class_type": "NoSuchNode", "inputs": {}}}


def test_completed_job_writes_its_outputs_and_exits_0(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.submit_command(workflow_file(tmp_path, workflow(11)), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stdout)
    assert records[0]["event"] == "submitted"
    assert records[-1] == {"event": "completed", "job_id": records[0]["job_id"], "exit_code": 0}
    written = [Path(r["path"]) for r in records if r["event"] == "output"]
    assert len(written) == 1 and written[0].parent == tmp_path / "out"
    assert written[0].read_bytes().startswith(b"\x89PNG")


def test_without_wait_it_prints_the_job_id_and_exits_0(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.submit_command(workflow_file(tmp_path, workflow(12)))
    assert done.returncode == 0, done.stderr
    [record] = json_lines(done.stdout)
    assert record["event"] == "submitted" and record["job_id"] in daemon.jobs()


def test_a_runpod_style_request_file_with_images_is_accepted(daemon: Daemon, tmp_path: Path) -> None:
    """{"input": {"workflow", "images"}} as worker-comfyui's test_input.json has it."""
    first = daemon.submit_command(workflow_file(tmp_path, workflow(13)), "--out", str(tmp_path / "a"))
    png = next((tmp_path / "a").iterdir())
    body = {"input": {"workflow": {
        "1": {"class_type": "LoadImage", "inputs": {"image": "mine.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}}}}}
    (tmp_path / "mine.png").write_bytes(png.read_bytes())
    done = daemon.submit_command(workflow_file(tmp_path, body["input"] | {}, "req.json"), "--image",
                                 str(tmp_path / "mine.png"), "--out", str(tmp_path / "b"))
    assert first.returncode == 0 and done.returncode == 0, done.stderr
    assert [p.name.startswith("inv") for p in (tmp_path / "b").iterdir()] == [True]
    wrapped = daemon.submit_command(workflow_file(tmp_path, body, "wrapped.json"), "--image",
                                    str(tmp_path / "mine.png"), "--wait")
    assert wrapped.returncode == 0, wrapped.stderr


def test_failed_job_exits_1_with_its_error(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.submit_command(workflow_file(tmp_path, BAD_NODE), "--wait")
    assert done.returncode == 1
    last = json_lines(done.stdout)[-1]
    assert last["event"] == "failed" and last["exit_code"] == 1
    assert last["error"]["type"] == "validation"
    assert "NoSuchNode" in done.stderr


def test_job_deadline_exits_4(fake_delay: Daemon, tmp_path: Path) -> None:
    fake_delay.fake(delay_ms=5000)
    done = fake_delay.submit_command(workflow_file(tmp_path, workflow(14)), "--wait", "--timeout", "0.5")
    assert done.returncode == 4, done.stderr
    last = json_lines(done.stdout)[-1]
    assert last["event"] == "timeout" and last["error"]["type"] == "timeout"


def test_max_wait_exits_4_and_the_job_keeps_running(fake_delay: Daemon, tmp_path: Path) -> None:
    fake_delay.fake(delay_ms=3000)
    done = fake_delay.submit_command(workflow_file(tmp_path, workflow(15)), "--wait", "--max-wait", "0.3")
    assert done.returncode == 4
    records = json_lines(done.stdout)
    assert records[-1]["event"] == "timeout"
    assert str(fake_delay.jobs()[records[0]["job_id"]].status) in {"pending", "running", "completed"}


def test_cancelled_job_exits_3_and_progress_is_json_lines(fake_delay: Daemon, tmp_path: Path) -> None:
    fake_delay.fake(delay_ms=4000, progress_steps=20)
    wf = workflow_file(tmp_path, workflow(16))
    proc = subprocess.Popen([sys.executable, "-m", "supervisor", "submit", wf, "--wait",
                             "--url", fake_delay.url, "--poll", "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # until a progress line shows the job running with steps
        lines.append(json.loads(line))
        if lines[-1]["event"] == "running" and lines[-1].get("progress", {}).get("max"):
            break
    fake_delay.client.post(f"{fake_delay.url}/cancel/{lines[0]['job_id']}").raise_for_status()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    last = json_lines(out)[-1]
    assert last["event"] == "cancelled" and last["exit_code"] == 3
    progress = lines[-1]["progress"]
    assert progress["node"] == "1" and progress["node_type"] == "EmptyImage" and progress["max"] == 20


def test_pending_jobs_report_their_queue_position(fake_delay: Daemon, tmp_path: Path) -> None:
    fake_delay.fake(delay_ms=1500)
    ahead = [fake_delay.submit(color) for color in range(100, 104)]
    done = fake_delay.submit_command(workflow_file(tmp_path, workflow(17)), "--wait", timeout=60)
    assert done.returncode == 0, done.stderr
    positions = [r["queue_position"] for r in json_lines(done.stdout) if r["event"] == "pending"]
    assert positions and positions[0] >= 1
    assert positions == sorted(positions, reverse=True)
    fake_delay.wait_jobs(ahead, {"completed"}, 30)


def test_unreachable_api_exits_5(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "supervisor", "submit", workflow_file(tmp_path, workflow(1)),
                           "--url", "http://127.0.0.1:9"], capture_output=True, text=True, cwd=str(ROOT))
    assert done.returncode == 5 and "ConnectError" in done.stderr


def test_invalid_workflow_is_refused_with_exit_5(daemon: Daemon, tmp_path: Path) -> None:
    done = daemon.submit_command(workflow_file(tmp_path, {"1": {"inputs": {}}}))
    assert done.returncode == 5 and "HTTP 400" in done.stderr and "class_type" in done.stderr


def test_unreadable_workflow_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "supervisor", "submit", str(tmp_path / "bad.json")],
                          capture_output=True, text=True, cwd=str(ROOT))
    assert done.returncode == 2 and "bad.json" in done.stderr
    assert time.monotonic() - started < 30
