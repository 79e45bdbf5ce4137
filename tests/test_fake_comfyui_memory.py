"""The fake ComfyUI's watchdog and memory behaviour, as ComfyUI 0.3.64 does it: a node that ignores interrupts,
an out-of-memory execution error, POST /free, and the memory /system_stats and /proc report."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.fake_comfyui import FakeComfyUI
from tests.supervisor.harness import workflow

MB = 1024 * 1024


def run(comfy: FakeComfyUI, flow: dict[str, Any]) -> str:
    prompt_id = str(uuid.uuid4())
    response = httpx.post(f"{comfy.url}/prompt", json={"prompt": flow, "prompt_id": prompt_id, "client_id": "t"})
    assert response.status_code == 200, response.text
    return prompt_id


def history(comfy: FakeComfyUI, prompt_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = httpx.get(f"{comfy.url}/history/{prompt_id}").json()
        if prompt_id in entry:
            return entry[prompt_id]  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError("no history")


def messages(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: data for name, data in entry["status"]["messages"]}


def test_a_node_that_ignores_interrupts_runs_to_its_end_then_the_next_node_is_interrupted(tmp_path: Path) -> None:
    with FakeComfyUI(tmp_path, delay_ms=2000, progress_steps=20, ignore_interrupt=True) as comfy:
        prompt_id = run(comfy, workflow(1))  # EmptyImage (1 s, ignores the interrupt), then SaveImage
        time.sleep(0.3)
        assert httpx.post(f"{comfy.url}/interrupt", json={"prompt_id": prompt_id}).status_code == 200
        time.sleep(0.3)
        assert prompt_id in comfy.stats()["running"]  # still running after the interrupt
        entry = history(comfy, prompt_id)
        assert entry["status"]["status_str"] == "error"
        interrupted = messages(entry)["execution_interrupted"]
        assert (interrupted["node_type"], interrupted["executed"]) == ("SaveImage", ["1"])


def test_an_out_of_memory_error_has_comfyuis_shape_and_unloads_models(tmp_path: Path) -> None:
    with FakeComfyUI(tmp_path, vram_total_mb=1000, vram_per_prompt_mb=100) as comfy:
        ok = history(comfy, run(comfy, workflow(1)))  # a first prompt succeeds: the OOM comes at the next
        assert ok["status"]["status_str"] == "success"
        comfy.configure(oom_prompts=1)
        entry = history(comfy, run(comfy, workflow(2)))
        error = messages(entry)["execution_error"]
        assert error["exception_type"] == "torch.OutOfMemoryError"
        assert error["exception_message"].startswith("Allocation on device \nThis error means you ran out of "
                                                     "memory on your GPU.")
        device = httpx.get(f"{comfy.url}/system_stats").json()["devices"][0]
        assert device["vram_total"] - device["vram_free"] == 100 * MB  # unloaded, then the failed prompt's own
        assert history(comfy, run(comfy, workflow(3)))["status"]["status_str"] == "success"


def test_system_stats_reports_growing_vram_that_post_free_gives_back(tmp_path: Path) -> None:
    with FakeComfyUI(tmp_path, vram_total_mb=1000, vram_per_prompt_mb=100) as comfy:
        for color in range(3):
            history(comfy, run(comfy, workflow(color)))
        device = httpx.get(f"{comfy.url}/system_stats").json()["devices"][0]
        assert (device["type"], device["index"], device["vram_total"]) == ("cuda", 0, 1000 * MB)
        assert device["vram_total"] - device["vram_free"] == 300 * MB
        response = httpx.post(f"{comfy.url}/free", json={"unload_models": True, "free_memory": True})
        assert (response.status_code, response.content) == (200, b"")  # server.py: web.Response(status=200)
        history(comfy, run(comfy, workflow(9)))  # the worker acts on the flags, then runs this prompt
        device = httpx.get(f"{comfy.url}/system_stats").json()["devices"][0]
        assert device["vram_total"] - device["vram_free"] == 100 * MB


def test_without_a_gpu_system_stats_keeps_the_recorded_cpu_device(tmp_path: Path) -> None:
    with FakeComfyUI(tmp_path) as comfy:
        device = httpx.get(f"{comfy.url}/system_stats").json()["devices"][0]
        assert (device["name"], device["type"]) == ("cpu", "cpu")


def rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_rss_grows_by_what_each_prompt_keeps(tmp_path: Path) -> None:
    with FakeComfyUI(tmp_path, rss_per_prompt_mb=20) as comfy:
        before = rss()
        for color in range(3):
            history(comfy, run(comfy, workflow(color)))
        assert rss() - before >= 50 * MB
