"""A real ComfyUI's lines, relayed by ``comfyui-worker run``: ``info``, but its errors (``error``). Every one of
them was a ``warning`` before (51 for one start and three jobs), so an alert on warnings fired on every start.

Skipped unless COMFYUI_PATH is set. Model-free workflows only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.supervisor.harness import RunningDaemon

pytestmark = [
    pytest.mark.skipif(not os.environ.get("COMFYUI_PATH"), reason="set COMFYUI_PATH to a ComfyUI folder"),
    pytest.mark.timeout(600),
]

INVALID = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
           "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bogus", "width": 8,
                                                        "height": 8, "crop": "disabled"}},
           "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}}


def test_a_start_and_three_jobs_log_no_warning_and_a_failure_logs_errors(tmp_path: Path) -> None:
    d = RunningDaemon(tmp_path, COMFYUI_PATH=os.environ["COMFYUI_PATH"],
                      COMFYUI_PYTHON=os.environ.get("COMFYUI_PYTHON", sys.executable),
                      COMFYUI_ARGS=os.environ.get("COMFYUI_ARGS", "--cpu"), COMFYUI_HANG_TIMEOUT_S="60",
                      COMFYUI_STARTUP_TIMEOUT_S="300")
    try:
        d.start().wait_ready(timeout=300)
        ids = [d.submit(c) for c in range(3)]
        d.wait_jobs(ids, {"completed"}, 120)
        quiet = d.events("comfyui_output")
        assert len(quiet) > 10  # ComfyUI's start and "got prompt" / "Prompt executed" lines
        assert [e["line"] for e in quiet if e["level"] != "info"] == []
        bad = d.submit(1, flow=INVALID)
        d.wait_jobs([bad], {"failed"}, 60)
        d.wait_for(lambda: any(e["line"] == "Output will be ignored" for e in d.events("comfyui_output")), 30,
                   "ComfyUI's validation failure")
        errors = [e["line"] for e in d.events("comfyui_output")[len(quiet):] if e["level"] == "error"]
        assert errors[0] == "Failed to validate prompt for output 3:" and errors[-1] == "Output will be ignored"
        assert any("Value not in list" in line for line in errors)
        assert not [e for e in d.events("comfyui_output") if e["level"] == "warning"]
    finally:
        d.close()
    assert d.not_json() == []
