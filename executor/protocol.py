"""ComfyUI's websocket messages and history entries, parsed into typed values (traces 01-36).

Only what the executor acts on is typed; everything else becomes :class:`Other`. Binary frames (previews, the
TEXT frames of trace 06) carry nothing the executor needs.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from executor.errors import BadResponse

_decode = msgspec.json.Decoder().decode


class Status(msgspec.Struct, frozen=True):
    queue_remaining: int
    sid: str | None


class ExecutionStart(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere


class Executing(msgspec.Struct, frozen=True):
    """``node`` None with our prompt id: the completion signal; no prompt_id: right after a reconnect."""

    prompt_id: str | None
    node: str | None


class Progress(msgspec.Struct, frozen=True):
    prompt_id: str | None
    node: str | None
    value: int
    max: int


class Executed(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere
    node: str
    output: dict[str, Any]


class ExecutionCached(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere
    nodes: list[str]


class ExecutionSuccess(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere


class ExecutionError(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere
    data: dict[str, Any]


class ExecutionInterrupted(msgspec.Struct, frozen=True):
    prompt_id: str | None  # None only in a malformed frame: routed nowhere
    data: dict[str, Any]


class Other(msgspec.Struct, frozen=True):
    type: str


Event = (Status | ExecutionStart | Executing | Progress | Executed | ExecutionCached | ExecutionSuccess
         | ExecutionError | ExecutionInterrupted | Other)


def parse_frame(text: str | bytes) -> Event:
    """One text frame of /ws; anything unexpected is :class:`Other` rather than an exception."""
    try:
        message = _decode(text)
        kind, data = message.get("type", ""), message.get("data") or {}
        return _parse(kind, data)
    except (msgspec.DecodeError, AttributeError, KeyError, TypeError, ValueError):
        return Other(type="malformed")


def _parse(kind: str, data: dict[str, Any]) -> Event:
    pid = data.get("prompt_id")
    if kind == "status":
        info = (data.get("status") or {}).get("exec_info") or {}
        return Status(queue_remaining=int(info.get("queue_remaining", 0)), sid=data.get("sid"))
    if kind == "execution_start":
        return ExecutionStart(prompt_id=pid)
    if kind == "executing":
        node = data.get("node")
        return Executing(prompt_id=pid, node=None if node is None else str(node))
    if kind == "progress":
        node = data.get("node")
        return Progress(prompt_id=pid, node=None if node is None else str(node),
                        value=int(data.get("value", 0)), max=int(data.get("max", 0)))
    if kind == "executed":
        return Executed(prompt_id=pid, node=str(data.get("node")), output=data.get("output") or {})
    if kind == "execution_cached":
        return ExecutionCached(prompt_id=pid, nodes=[str(n) for n in data.get("nodes") or []])
    if kind == "execution_success":
        return ExecutionSuccess(prompt_id=pid)
    if kind == "execution_error":
        return ExecutionError(prompt_id=pid, data=data)
    if kind == "execution_interrupted":
        return ExecutionInterrupted(prompt_id=pid, data=data)
    return Other(type=kind)


# --- history ----------------------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    INTERRUPTED = "interrupted"


class HistoryEntry(msgspec.Struct, frozen=True):
    """A finished prompt as GET /history/{id} reports it: the truth the executor trusts."""

    outcome: Outcome
    outputs: dict[str, dict[str, Any]]
    error: dict[str, Any] | None  # the execution_error message's data, when outcome is ERROR
    cached: tuple[str, ...] = ()  # the nodes execution_cached named: their outputs come from an earlier run


class _Status(msgspec.Struct, frozen=True):
    status_str: str | None = None
    completed: bool | None = None
    messages: list[Any] | None = None


class _Entry(msgspec.Struct, frozen=True):
    """The part of a history entry the executor reads; anything else in it is ignored."""

    status: _Status | None = None
    outputs: dict[str, dict[str, Any]] | None = None


def parse_history(entry: dict[str, Any]) -> HistoryEntry | None:
    """None for an entry without a final status (not seen in practice; history is written late, trace 36).

    Raises BadResponse for an entry not of the shape ComfyUI writes (e.g. ``outputs`` that is not an object)."""
    try:
        parsed = msgspec.convert(entry, _Entry)
    except msgspec.ValidationError as exc:
        raise BadResponse(f"GET /history: ComfyUI answered a history entry of another shape ({exc})",
                          endpoint="GET /history") from None
    status, outputs = parsed.status or _Status(), parsed.outputs or {}
    kinds = {m[0]: m[1] for m in status.messages or [] if isinstance(m, list | tuple) and len(m) == 2
             and isinstance(m[0], str)}
    if "execution_error" in kinds:
        error = kinds["execution_error"]
        return HistoryEntry(outcome=Outcome.ERROR, outputs=outputs, error=error if isinstance(error, dict) else {})
    if "execution_interrupted" in kinds:
        return HistoryEntry(outcome=Outcome.INTERRUPTED, outputs=outputs, error=None)
    if status.status_str == "success" or status.completed:
        nodes = kinds.get("execution_cached")
        cached = nodes.get("nodes") if isinstance(nodes, dict) else None
        return HistoryEntry(outcome=Outcome.SUCCESS, outputs=outputs, error=None,
                            cached=tuple(str(n) for n in cached) if isinstance(cached, list) else ())
    if status.status_str == "error":
        return HistoryEntry(outcome=Outcome.ERROR, outputs=outputs, error={})
    return None


class OutputRef(msgspec.Struct, frozen=True):
    """One file an output node wrote: ``GET /view?filename&subfolder&type`` fetches it."""

    node_id: str
    key: str  # images, gifs, videos, audio, latents, ...
    filename: str
    subfolder: str
    type: str  # output | temp | input


class TextOutput(msgspec.Struct, frozen=True):
    node_id: str
    text: str


def output_refs(outputs: dict[str, dict[str, Any]]) -> tuple[list[OutputRef], list[TextOutput]]:
    """Every file (any list of {filename, subfolder, type}) and every ``text`` item, in node-id order."""
    files: list[OutputRef] = []
    texts: list[TextOutput] = []
    for node_id in sorted(outputs, key=_node_order):
        for key, items in (outputs[node_id] or {}).items():
            if not isinstance(items, list):
                continue
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(OutputRef(node_id=str(node_id), key=key, filename=item["filename"],
                                           subfolder=str(item.get("subfolder") or ""),
                                           type=str(item.get("type") or "output")))
                elif key == "text" and isinstance(item, str):
                    texts.append(TextOutput(node_id=str(node_id), text=item))
    return files, texts


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)
