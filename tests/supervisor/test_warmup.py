"""WARMUP_WORKFLOW on the real ``comfyui-worker run``, with the fake ComfyUI standing in: the warm-up runs on
each ComfyUI after every start and restart before its executor claims a job, is reported in /health and /ready
(with ComfyUI's error when it fails), and leaves no file in ComfyUI's output folder."""

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

from store import Store
from tests.supervisor.harness import ROOT, RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

WARMUP = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 123}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "warmup"}},
}


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    started: list[RunningDaemon] = []
    yield started
    for d in started:
        d.close()
    for d in started:
        assert d.not_json() == [], "every stdout line is one JSON object"


def make(daemons: list[RunningDaemon], tmp_path: Path, flow: Any, **env: str) -> RunningDaemon:
    path = tmp_path / "warmup.json"
    path.write_text(json.dumps(flow))
    d = RunningDaemon(tmp_path, WARMUP_WORKFLOW=str(path), **env)
    daemons.append(d)
    return d.start()


def get(d: RunningDaemon, route: str) -> tuple[int, dict[str, Any]] | None:
    try:
        response = d.client.get(f"{d.url}{route}", timeout=2)
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


def comfy_history(d: RunningDaemon) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{d.comfyui_port}/history", timeout=5).json())


def warmup_row(d: RunningDaemon) -> dict[str, Any]:
    store = Store(d.db_path)
    try:
        return {"state": str(store.warmups()[0].state), "runs": store.warmups()[0].runs}
    finally:
        store.close()


def event_index(d: RunningDaemon, name: str, nth: int = 0) -> int:
    found = [i for i, r in enumerate(d.records()) if r.get("event") == name]
    assert len(found) > nth, f"no {name} #{nth}\n" + d.tail()
    return found[nth]


def claims_after(d: RunningDaemon, index: int) -> list[int]:
    return [i for i, r in enumerate(d.records()) if r.get("event") == "job_claimed" and i > index]


def test_warmup_runs_before_any_claim_after_each_start_and_leaves_no_output(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, WARMUP, FAKE_COMFYUI_DELAY_MS="1000")
    first = d.submit(1, retry_s=30)  # accepted while ComfyUI starts and warms up: it waits, pending
    seen = d.wait_for(lambda: (r := get(d, "/ready")) and "comfyui-0 is warming up" in r[1].get("reasons", [])
                      and r, 30, "/ready saying the warm-up runs")
    assert seen[0] == 503
    d.wait_for(lambda: (r := get(d, "/ready")) and r[0] == 200, 30, "/ready 200 once warm")
    d.wait_jobs([first], {"completed"}, 30)

    finished = event_index(d, "warmup_finished")
    assert event_index(d, "warmup_started") < finished < event_index(d, "job_claimed")
    record = d.records()[finished]
    assert record["duration_s"] >= 1.0 and record["instance"] == 0 and record["process"] == "executor"
    code, health = get(d, "/health") or (0, {})
    assert code == 200, health
    warm = health["warmup"]["comfyui-0"]
    assert warm["state"] == "ok" and warm["runs"] == 1 and warm["failures"] == 0 and warm["duration_s"] >= 1.0
    assert warm["error"] is None

    history = comfy_history(d)  # the warm-up is ComfyUI's first prompt, and its file is gone
    numbers = {item["prompt"][2]["2"]["inputs"]["filename_prefix"]: item["prompt"][0] for item in history.values()}
    assert numbers["warmup"] < numbers["bench"]
    warm_files = [f["filename"] for item in history.values() for out in item["outputs"].values()
                  for f in out.get("images", []) if f["filename"].startswith("warmup")]
    assert warm_files
    output_dir = tmp_path / "data" / "comfyui-0" / "output"
    assert output_dir.is_dir() and not [name for name in warm_files if (output_dir / name).exists()]

    # a restart of ComfyUI needs a new warm-up before the next claim
    killed_at = len(d.lines)
    old = d.kill9("comfyui-0")
    d.wait_for(lambda: warmup_row(d)["state"] == "pending", 10, "the supervisor setting the warm-up pending")
    d.wait_restarted("comfyui-0", old)
    after_restart = d.submit(2, retry_s=30)
    d.wait_jobs([after_restart], {"completed"}, 40)
    second = event_index(d, "warmup_finished", 1)
    assert claims_after(d, second), "the job after the restart was claimed only after the second warm-up"
    assert event_index(d, "warmup_started", 1) > killed_at
    assert not [i for i in claims_after(d, killed_at) if i < second], "no claim before the new warm-up ended"
    warm = (get(d, "/health") or (0, {}))[1]["warmup"]["comfyui-0"]
    assert warm["state"] == "ok" and warm["runs"] == 2


def test_a_failed_warmup_is_reported_with_comfyuis_error_and_jobs_still_run(daemons, tmp_path) -> None:
    broken = {**WARMUP, "2": {"class_type": "NoSuchNode", "inputs": {"images": ["1", 0]}}}
    d = make(daemons, tmp_path, broken)
    code, body = d.wait_for(lambda: (r := get(d, "/ready")) and any("warm-up failed" in x for x in
                                                                     r[1].get("reasons", [])) and r, 30,
                            "/ready naming the failed warm-up")
    assert code == 503
    assert body["reasons"] == ["comfyui-0 warm-up failed: Cannot execute because node NoSuchNode does not exist."]
    error = body["warmup"]["comfyui-0"]["error"]
    assert error["type"] == "validation" and error["comfyui_type"] == "invalid_prompt"
    code, health = get(d, "/health") or (0, {})
    assert code == 200 and health["status"] == "healthy"  # nothing is down: /health keeps its meaning
    assert health["warmup"]["comfyui-0"]["state"] == "failed" and health["warmup"]["comfyui-0"]["failures"] == 1
    failed = d.records()[event_index(d, "warmup_failed")]
    assert failed["error"]["message"] == "Cannot execute because node NoSuchNode does not exist."
    job = d.submit(1)  # a cold instance still runs jobs
    d.wait_jobs([job], {"completed"}, 20)


BAD_FILES: dict[str, tuple[str | None, str]] = {
    "missing": (None, "cannot read it: No such file or directory"),
    "a_folder": ("<folder>", "it is not a regular file"),
    "a_fifo": ("<fifo>", "it is not a regular file"),
    "not_json": ("{nope", "it is not JSON"),
    "a_list": ("[1, 2]", "it must hold a JSON object"),
    "ui_format": (json.dumps({"nodes": [], "links": [], "version": 0.4}), "export it with Save (API)"),
    "no_class_type": (json.dumps({"1": {"inputs": {}}}), "node '1' has no 'class_type' string"),
    "no_inputs": (json.dumps({"1": {"class_type": "EmptyImage"}}), "node '1' (EmptyImage) has no 'inputs' object"),
    "empty": ("{}", "the workflow has no nodes"),
    "with_images": (json.dumps({"workflow": WARMUP, "images": [{"name": "a.png", "image": "AAAA"}]}),
                    "it carries input images"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_warmup_file_stops_the_start_with_one_line_naming_it(tmp_path, case) -> None:
    content, why = BAD_FILES[case]
    path = tmp_path / "warmup.json"
    if content == "<folder>":
        path.mkdir()
    elif content == "<fifo>":
        os.mkfifo(path)  # opening it would wait for a writer forever
    elif content is not None:
        path.write_text(content)
    d = RunningDaemon(tmp_path, WARMUP_WORKFLOW=str(path))
    try:
        done = subprocess.run([sys.executable, "-m", "supervisor", "run"], env=d.env, cwd=str(ROOT),
                              capture_output=True, timeout=60)
    finally:
        d.close()
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert lines == [f"comfyui-worker run: WARMUP_WORKFLOW={path}: {lines[0].split(': ', 2)[2]}"], lines
    assert why in lines[0]
    assert done.stdout.decode().count("child_started") == 0  # nothing was spawned


def test_a_warmup_file_in_a_request_body_is_accepted(daemons, tmp_path) -> None:
    """The shapes ``comfyui-worker submit`` reads: {"input": {"workflow": ...}} runs as the bare workflow would."""
    d = make(daemons, tmp_path, {"input": {"workflow": WARMUP}})
    d.wait_for(lambda: (r := get(d, "/ready")) and r[0] == 200, 30, "ready once warm")
    job = d.submit(1, flow=workflow(1))
    d.wait_jobs([job], {"completed"}, 20)
    assert (get(d, "/health") or (0, {}))[1]["warmup"]["comfyui-0"]["state"] == "ok"
