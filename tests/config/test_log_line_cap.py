"""No log line is longer than MAX_LINE_BYTES (16 KB): long values are cut, head and tail kept, with a marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from config.logging import MAX_LINE_BYTES, encode_line
from supervisor.logrelay import render
from supervisor.process import ProcessSpec

SCRIPT = """
import copy, structlog
from config.logging import configure, get_logger
configure("executor", "INFO")
structlog.contextvars.bind_contextvars(job_id="job-1")
log = get_logger()
log.info("big_value", workflow={"1": {"inputs": {"text": "x" * 200_000}}}, note="short")
deep = 1
for _ in range(600):
    deep = [deep]
try:
    copy.deepcopy(deep)
except RecursionError:
    log.exception("job_crashed")  # the executor's traceback of a 600-deep deepcopy: 143 KB before
log.info("many_values", **{f"k{i}": "y" * 5000 for i in range(40)})
log.info("small", value="kept as is")
"""


def _lines() -> list[bytes]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, env=env, timeout=60, check=True)
    return proc.stdout.splitlines()


def test_no_line_of_a_process_is_over_the_bound_and_each_is_still_json() -> None:
    lines = _lines()
    assert len(lines) == 4
    assert all(len(line) <= MAX_LINE_BYTES for line in lines), [len(line) for line in lines]
    big, crashed, many, small = (json.loads(line) for line in lines)
    assert big["event"] == "big_value" and big["truncated"] is True and big["note"] == "short"
    assert big["job_id"] == "job-1" and "...[truncated " in big["workflow"]
    assert crashed["event"] == "job_crashed" and crashed["level"] == "error"
    assert crashed["exception"].startswith("Traceback") and "RecursionError" in crashed["exception"][-200:]
    assert "...[truncated " in crashed["exception"]  # the head and the tail (the error itself) are kept
    assert many["event"] == "many_values" and many["truncated"] is True and many["job_id"] == "job-1"
    assert small == {**small, "value": "kept as is"} and "truncated" not in small


def test_a_cut_value_keeps_its_head_tail_and_says_how_much_went() -> None:
    text = "HEAD" + "m" * 50_000 + "TAIL"
    record = json.loads(encode_line({"event": "e", "value": text}))
    value = record["value"]
    assert value.startswith("HEAD") and value.endswith("TAIL") and f"of {len(text)} chars]" in value


def test_control_characters_that_escape_to_six_bytes_still_fit() -> None:
    line = encode_line({"event": "e", **{f"k{i}": "\x01" * 3000 for i in range(20)}})
    assert len(line) <= MAX_LINE_BYTES and json.loads(line)["truncated"] is True


def test_the_relay_caps_comfyui_lines_and_oversized_child_lines() -> None:
    comfyui = ProcessSpec(name="comfyui-0", kind="comfyui", argv=["x"], instance=0)
    wrapped = render(b"Failed to validate prompt: " + b"v" * 500_000, comfyui, "stdout")
    assert len(wrapped) <= MAX_LINE_BYTES and json.loads(wrapped)["line"].startswith("Failed to validate")
    executor = ProcessSpec(name="executor-0", kind="executor", argv=["x"], instance=0)
    child = json.dumps({"event": "huge", "level": "info", "blob": "z" * 100_000}).encode()
    passed = render(child, executor, "stdout")
    assert len(passed) <= MAX_LINE_BYTES and json.loads(passed)["event"] == "huge"
