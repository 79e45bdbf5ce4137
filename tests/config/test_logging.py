"""Logs: every line a process prints is one JSON object with the agreed keys."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

SCRIPT = """
import logging, structlog
from config.logging import configure, get_logger
configure("executor", "INFO", instance=0)
log = get_logger()
structlog.contextvars.bind_contextvars(job_id="job-1")
log.info("job_claimed", attempt=1)
log.debug("too_detailed")
logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
logging.getLogger("httpx").info("HTTP Request: GET http://x \\"HTTP/1.1 200 OK\\"")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("job_failed")
print_obj = object()
log.info("odd_value", value=print_obj)
"""


def _run(level: str = "INFO") -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-c", SCRIPT.replace('"INFO"', repr(level))], capture_output=True,
                          text=True, env=env, timeout=60, check=True)
    assert proc.stderr == ""
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_every_line_is_json_with_the_agreed_keys() -> None:
    records = _run()
    assert [r["event"] for r in records] == ["job_claimed", "library_log", "job_failed", "odd_value"]
    for record in records:
        assert {"timestamp", "level", "event", "process", "pid"} <= record.keys()
        assert record["process"] == "executor" and record["instance"] == 0
        assert isinstance(record["pid"], int) and record["pid"] > 0
        stamp = dt.datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00"))
        assert stamp.utcoffset() == dt.timedelta(0)


def test_bound_context_is_in_every_line() -> None:
    assert all(r["job_id"] == "job-1" for r in _run())


def test_stdlib_records_go_through_the_same_renderer() -> None:
    uvicorn = next(r for r in _run() if r.get("logger") == "uvicorn.error")
    assert uvicorn["level"] == "warning" and uvicorn["message"] == "Started server process [42]"


def test_exceptions_are_rendered_inside_the_json_line() -> None:
    failed = next(r for r in _run() if r["event"] == "job_failed")
    assert failed["level"] == "error" and "ZeroDivisionError" in str(failed["exception"])


def test_the_level_filters_records() -> None:
    assert "too_detailed" not in [r["event"] for r in _run("INFO")]
    assert "too_detailed" in [r["event"] for r in _run("DEBUG")]


def test_per_request_library_lines_are_debug() -> None:
    """httpx logs every request at INFO: at the daemon's INFO that line is not printed (nor even made), at DEBUG
    it is a debug line. Before: one INFO line per request to ComfyUI."""
    assert not [r for r in _run("INFO") if r.get("logger") == "httpx"]
    [line] = [r for r in _run("DEBUG") if r.get("logger") == "httpx"]
    assert line["level"] == "debug" and line["message"].startswith("HTTP Request: GET http://x")
