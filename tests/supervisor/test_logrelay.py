"""Every child's output line becomes exactly one JSON object on our stdout."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

from supervisor.comfylevels import LineLevels
from supervisor.logrelay import LogRelay, render
from supervisor.process import ProcessSpec

COMFY = ProcessSpec(name="comfyui-1", kind="comfyui", instance=1, argv=[])
HTTP = ProcessSpec(name="http", kind="http", argv=[])


def test_a_json_object_line_passes_through_unchanged() -> None:
    line = b'{"event":"job_claimed","job_id":"x","process":"executor"}'
    assert render(line, HTTP, "stdout") == line


def test_a_plain_comfyui_line_is_wrapped_with_its_instance() -> None:
    event = json.loads(render(b"Prompt executed in 0.01 seconds", COMFY, "stdout"))
    assert event["event"] == "comfyui_output" and event["process"] == "comfyui"
    assert event["instance"] == 1 and event["level"] == "info"
    assert event["line"] == "Prompt executed in 0.01 seconds" and event["timestamp"].endswith("Z")


def test_other_childrens_stderr_lines_are_warnings() -> None:
    assert json.loads(render(b"Traceback (most recent call last):", HTTP, "stderr"))["level"] == "warning"


def _expected_errors(lines: list[str]) -> list[int]:
    """Where the real ComfyUI's errors are in its captured output: the error at start, the validation failure
    with its details, and the processing exception with its two chained tracebacks."""
    start = lines.index("Failed to validate prompt for output 3:")
    exception = next(i for i, line in enumerate(lines) if line.startswith("!!! Exception during processing"))
    last = max(i for i, line in enumerate(lines) if line.startswith("PIL.UnidentifiedImageError"))
    entry = next(i for i, line in enumerate(lines) if line.startswith("Error while calling comfy_entrypoint"))
    return [entry, *range(start, lines.index("Output will be ignored") + 1), *range(exception, last + 1)]


async def test_comfyuis_lines_are_info_but_its_errors_and_tracebacks() -> None:
    """A real ComfyUI's stderr (start, a validation failure, a runtime error; tests/supervisor/data): every
    line of it was a warning; now only its errors and tracebacks are errors, the rest info."""
    captured = (Path(__file__).parent / "data" / "comfyui_stderr.txt").read_bytes()
    out = io.BytesIO()
    relay = LogRelay(out)
    r, w = os.pipe()
    os.set_blocking(r, False)
    relay.attach(COMFY, r, "stderr")
    os.write(w, captured)
    os.close(w)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not relay.owners:
            break
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    lines = [event["line"] for event in events]
    assert lines == [line for line in captured.decode().splitlines() if line.strip()]
    errors = [i for i, event in enumerate(events) if event["level"] == "error"]
    assert errors == _expected_errors(lines)
    assert {event["level"] for event in events} == {"error", "info"}
    assert sum(event["level"] == "info" for event in events) > 30  # the start, "got prompt", "Prompt executed"


def test_a_comfyui_traceback_ends_with_its_exception_line() -> None:
    levels = LineLevels()
    lines = [b"got prompt", b"Traceback (most recent call last):", b'  File "x.py", line 1, in f',
             b"ValueError: bad", b"Prompt executed in 0.01 seconds"]
    assert [json.loads(render(line, COMFY, "stderr", levels=levels))["level"] for line in lines] == [
        "info", "error", "error", "error", "info"]


def test_other_children_are_wrapped_with_their_own_name() -> None:
    event = json.loads(render(b"INFO: started", HTTP, "stderr"))
    assert event["event"] == "http_output" and event["process"] == "http" and "instance" not in event


def test_json_that_is_not_an_object_and_broken_json_are_wrapped() -> None:
    for line in (b"[1, 2]", b'"text"', b"{not json", b"42"):
        assert json.loads(render(line, COMFY, "stdout"))["line"] == line.decode()


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert json.loads(render(b"caf\xe9", COMFY, "stdout"))["line"] == "caf\ufffd"


async def test_lines_split_across_reads_and_a_last_line_without_newline_arrive_whole() -> None:
    out = io.BytesIO()
    relay = LogRelay(out)
    r, w = os.pipe()
    os.set_blocking(r, False)
    relay.attach(COMFY, r, "stdout")
    os.write(w, b"first li")
    await asyncio.sleep(0.05)
    os.write(w, b'ne\n{"event":"x"}\n\nlast')
    os.close(w)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not relay.owners:
            break
    lines = out.getvalue().splitlines()
    assert [json.loads(line).get("line", json.loads(line)["event"]) for line in lines] == [
        "first line", '{"event":"x"}', "last"]
    assert not relay.owners  # the pipe was closed at its end


def test_a_line_of_json_nested_too_deeply_is_wrapped_not_a_crash() -> None:
    line = b'{"a":' * 2000 + b"1" + b"}" * 2000  # too deep for the decoder, short enough to keep whole
    event = json.loads(render(line, COMFY, "stdout"))
    assert event["event"] == "comfyui_output" and event["line"] == line.decode()


def test_a_json_object_printed_by_comfyui_is_wrapped_so_it_carries_our_fields() -> None:
    line = b'{"prompt_id": "p1", "event": "job_completed"}'  # e.g. a custom node printing json.dumps(...)
    event = json.loads(render(line, COMFY, "stdout"))
    assert event["event"] == "comfyui_output" and event["process"] == "comfyui" and event["level"] == "info"
    assert event["line"] == line.decode() and event["instance"] == 1


def test_our_childrens_lines_are_checked_whole_before_passing_unchanged() -> None:
    """The cheap check (a well-formed object, values not built) refuses what the full decode refused; before, a
    child's JSON line with bad UTF-8 raised UnicodeDecodeError in the relay instead of being wrapped."""
    good = [b'{"event":"x","n":[1,{"a":null}],"s":"caf\xc3\xa9"}', b'{"event":"y"}']
    for line in good:
        assert render(line, HTTP, "stdout") == line
    bad = [b'{"event":"x"} trailing', b'{"event":"x",}', b'{"event":"caf\xe9"}', b'{"a":[1,2}', b"{}" + b"]"]
    for line in bad:
        event = json.loads(render(line, HTTP, "stdout"))
        assert event["event"] == "http_output" and event["line"] == line.decode(errors="replace")
