"""Parsing the recorded traces: websocket frames, history entries, output lists, error bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from executor import protocol as p
from executor.errors import execution_error, validation_error
from tests.fake_comfyui.catalog import DATA_DIR


def trace(name: str) -> dict[str, Any]:
    return json.loads((DATA_DIR / "traces" / f"{name}.json").read_text())  # type: ignore[no-any-return]


def frames(name: str) -> list[p.Event]:
    return [p.parse_frame(json.dumps(m["data"])) for m in trace(name)["ws_messages"] if m["kind"] == "text"]


def test_success_frames_end_with_the_completion_signal() -> None:
    events = frames("01_success_basic")
    pid = trace("01_success_basic")["prompt_id"]
    assert events[-1] == p.Executing(prompt_id=pid, node=None)
    assert p.ExecutionStart(prompt_id=pid) in events and p.ExecutionSuccess(prompt_id=pid) in events
    assert [e.node for e in events if isinstance(e, p.Executing)] == ["1", "2", None]


def test_progress_frames_carry_value_max_node() -> None:
    progress = [e for e in frames("26_interrupt_during_progress") if isinstance(e, p.Progress)]
    assert progress[0].value == 1 and progress[0].max == 81 and progress[0].node == "3"


def test_reconnect_executing_frame_has_no_prompt_id() -> None:
    second = trace("33_ws_reconnect_mid_run")["ws_messages_second_socket"]
    assert p.parse_frame(json.dumps(second[1]["data"])) == p.Executing(prompt_id=None, node="3")


def test_garbage_frame_is_other() -> None:
    assert p.parse_frame("not json") == p.Other(type="malformed")
    assert p.parse_frame('{"type": "feature_flags", "data": {}}') == p.Other(type="feature_flags")


@pytest.mark.parametrize(("name", "outcome"), [("01_success_basic", p.Outcome.SUCCESS),
                                               ("23_runtime_error_broken_image", p.Outcome.ERROR),
                                               ("26_interrupt_during_progress", p.Outcome.INTERRUPTED)])
def test_history_outcome(name: str, outcome: p.Outcome) -> None:
    data = trace(name)
    entry = p.parse_history(data["history_at_completion"]["body"][data["prompt_id"]])
    assert entry is not None and entry.outcome is outcome


def test_output_refs_of_multi_output() -> None:
    data = trace("06_multi_output")
    files, texts = p.output_refs(data["history_at_completion"]["body"][data["prompt_id"]]["outputs"])
    assert [(f.node_id, f.key, f.type) for f in files] == [
        ("2", "images", "output"), ("4", "images", "output"), ("5", "images", "temp"),
        ("7", "latents", "output")]
    assert files[1].subfolder == "sub/dir" and texts == [p.TextOutput(node_id="9", text="64")]


def test_output_refs_ignore_animated_flags() -> None:
    data = trace("07_animated_video")
    files, _ = p.output_refs(data["history_at_completion"]["body"][data["prompt_id"]]["outputs"])
    assert len(files) == 5 and all(f.key == "images" for f in files)


def test_validation_error_shapes() -> None:
    body = trace("14_validation_value_out_of_range")["prompt_response"]["body"]
    error = validation_error(400, body).to_error()
    assert error["type"] == "validation" and error["node_errors"]
    for node in error["node_errors"]:
        assert set(node) == {"node_id", "class_type", "errors"}
        assert all(set(e) == {"type", "message", "details"} for e in node["errors"])
    plain = validation_error(500, "500 Internal Server Error").to_error()
    assert plain["type"] == "validation" and "500" in plain["message"]


def test_execution_error_shape() -> None:
    data = next(m["data"]["data"] for m in trace("23_runtime_error_broken_image")["ws_messages"]
                if m["kind"] == "text" and m["data"]["type"] == "execution_error")
    error = execution_error(data).to_error()
    assert error["node_id"] == "1" and error["node_type"] == "LoadImage"
    assert error["exception_type"] == "PIL.UnidentifiedImageError" and "traceback" not in error
