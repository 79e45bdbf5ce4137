"""A store job as RunPod's body, and RunPod's answer back as what a local run writes (docs/internals.md).

Out: ``{"input": {"workflow", "images": [{"name", "image": base64}], "comfy_org_api_key"?, "include_temp"?},
"policy": {"executionTimeout": ms}}``. Back: worker-comfyui's output, ``{"images": [{"filename", "type":
"base64", "data"}, ...], "videos"?, ..., "text"?}``: base64 bytes become ``job_outputs`` rows referred to by
``output_index``; an entry whose ``data`` is a URL (``s3_url``: a bucket) is kept as it is. A failure's
``output.details`` is the structured error when the remote is this daemon (the same error a local run gives);
another worker's failure becomes an ``execution`` error with its message. Everything from RunPod is checked:
a shape its API never sends fails the job as ``comfyui_bad_response`` (not retried).
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import mimetypes
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from store import InputImage, Job, OutputFile, Progress

FILE_KINDS = ("images", "videos", "audio", "files")
ERROR_TYPES = {"validation", "execution", "comfyui_unavailable", "timeout", "cancelled", "invalid_input",
               "comfyui_bad_response", "internal"}
RETRIED = {"comfyui_unavailable", "internal"}  # as the executor retries them
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
WEEK_MS = 7 * 86400 * 1000


class Remote(enum.StrEnum):
    """RunPod's job statuses."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class BadAnswer(Exception):
    """RunPod's answer has a shape its API never sends."""


class Completed(msgspec.Struct, frozen=True):
    result: dict[str, Any]
    outputs: list[OutputFile]


def request_body(job: Job, inputs: Iterable[InputImage], timeout_s: float) -> dict[str, Any]:
    """RunPod's body for the job: its workflow, images as base64, options, and its deadline in ms."""
    payload: dict[str, Any] = {"workflow": job.workflow}
    images = [{"name": i.name, "image": base64.b64encode(i.data).decode()} for i in inputs]
    if images:
        payload["images"] = images
    for option in ("comfy_org_api_key", "include_temp"):
        if job.options.get(option) is not None:
            payload[option] = job.options[option]
    timeout_ms = min(WEEK_MS, max(1000, math.ceil(timeout_s * 1000)))
    return {"input": payload, "policy": {"executionTimeout": timeout_ms}}


def remote_status(body: dict[str, Any]) -> Remote:
    try:
        return Remote(str(body.get("status")))
    except ValueError:
        raise BadAnswer(f"unknown RunPod status {str(body.get('status'))[:40]!r}") from None


def completed(output: Any) -> Completed:
    """A COMPLETED job's output as the result and the output bytes a local run stores. Raises BadAnswer."""
    if not isinstance(output, dict):
        raise BadAnswer("a COMPLETED job's output is not an object")
    result: dict[str, Any] = {"images": []}
    outputs: list[OutputFile] = []
    for kind in FILE_KINDS:
        entries = output.get(kind) or []
        if not isinstance(entries, list):
            raise BadAnswer(f"output.{kind} is not a list")
        kept = [_file(entry, outputs, f"output.{kind}[{i}]") for i, entry in enumerate(entries)]
        if kept or kind == "images":
            result[kind] = kept
    texts = output.get("text") or []
    if not isinstance(texts, list) or not all(isinstance(t, dict) and isinstance(t.get("text"), str) for t in texts):
        raise BadAnswer("output.text is not a list of {node_id, text}")
    if texts:
        result["text"] = [{"node_id": str(t.get("node_id")), "text": t["text"]} for t in texts]
    return Completed(result=result, outputs=outputs)


def _file(entry: Any, outputs: list[OutputFile], where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise BadAnswer(f"{where} is not an object")
    name, kind, data = entry.get("filename"), entry.get("type"), entry.get("data")
    if not isinstance(name, str) or not name or len(name) > 255 or _CONTROL.search(name):
        raise BadAnswer(f"{where}.filename is not a file name")
    if not isinstance(data, str):
        raise BadAnswer(f"{where}.data is not a string")
    kept = {key: entry[key] for key in ("node_id", "subfolder") if isinstance(entry.get(key), str)}
    if kind != "base64":  # a bucket's URL (s3_url): kept as the remote gave it
        if not re.fullmatch(r"https?://\S{1,4000}", data):
            raise BadAnswer(f"{where}.data is neither base64 nor an http(s) URL")
        return {"filename": name, "type": str(kind)[:40], "data": data, **kept}
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadAnswer(f"{where}.data is not base64") from None
    given = entry.get("content_type")
    content_type = given if isinstance(given, str) and _CONTENT_TYPE.fullmatch(given) else (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    index = len(outputs)
    outputs.append(OutputFile(index=index, filename=name, content_type=content_type, data=raw))
    return {"filename": name, "type": "base64", "output_index": index, "content_type": content_type,
            "subfolder": "", **kept}


def failure(body: dict[str, Any]) -> dict[str, Any]:
    """A FAILED (or TIMED_OUT) job's structured error: this daemon's own (``output.details``) when the remote
    is one, else an ``execution`` error carrying RunPod's message."""
    output = body.get("output")
    details = output.get("details") if isinstance(output, dict) else None
    if isinstance(details, dict) and details.get("type") in ERROR_TYPES and isinstance(details.get("message"), str):
        return msgspec.json.decode(msgspec.json.encode(details))  # type: ignore[no-any-return]
    message = body.get("error")
    text = message if isinstance(message, str) else msgspec.json.encode(message).decode()
    return {"type": "execution", "message": f"the job failed on RunPod: {text[:2000]}"}


def timed_out(body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """TIMED_OUT: the remote error when it is this daemon's ``timeout``, else the one a local run gives."""
    error = failure(body)
    if error.get("type") == "timeout":
        return error
    return {"type": "timeout", "message": f"job ran longer than its deadline of {timeout_s:g} s and was interrupted",
            "timeout_s": timeout_s}


def progress(body: dict[str, Any]) -> Progress | None:
    """IN_PROGRESS with this daemon's progress output (``value``, ``max``, ``node``, ``node_type``)."""
    output = body.get("output")
    if not isinstance(output, dict) or not isinstance(output.get("value"), int) \
            or not isinstance(output.get("max"), int):
        return None
    node, node_type = output.get("node"), output.get("node_type")
    return Progress(value=output["value"], max=output["max"], node=node if isinstance(node, str) else None,
                    node_type=node_type if isinstance(node_type, str) else None)
