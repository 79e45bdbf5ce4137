"""worker-comfyui's output shape, as the RunPod handler returns it and the self-hosted ``/v2`` routes show it.

Success: ``{"images": [{"filename", "type": "base64" | "s3_url", "data", ...}], ..., "job_id"}``, the store's
result (docs/internals.md) with the bytes inlined. Failure: ``{"error": "<message>", "details": {...}}``: the
SDK moves ``error`` out of the output, which is what makes the RunPod job FAILED. While a job is not finished,
``progress`` is what RunPod shows as its ``output`` (``progress_update``): ``{"status": "pending",
"queue_position": n}``, then ``{"status": "running", "value", "max", "percent", "node", "node_type"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store import JobInfo, JobStatus, StoreFull
from transports.errors import InvalidRequest
from transports.render import render_result


class Output(dict[str, Any]):
    """What the handler returns, with a short ``repr``. The SDK formats every handler output into two DEBUG
    messages with f-strings (``Handler output: {...}``, ``run_job return: {...}``), built whatever the log
    level: with a 1 MB image each costs ~2.5 ms of CPU. JSON encoders see a plain dict."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<output: {', '.join(map(str, self))}>"


def success(job: JobInfo, outputs: Mapping[int, bytes] | None) -> dict[str, Any]:
    """The job's result with ``data`` = base64 of each stored output, plus our ``job_id``."""
    result = render_result(job.result, outputs) or {"images": []}
    return {**result, "job_id": job.id}


def failure(message: str, details: dict[str, Any], job_id: str | None = None) -> dict[str, Any]:
    output: dict[str, Any] = {"error": message, "details": details}
    if job_id:
        output["job_id"] = job_id
    return output


def _node_error_text(node: Mapping[str, Any]) -> str:
    reasons = "; ".join(
        ": ".join(str(part) for part in (e.get("message"), e.get("details")) if part)
        for e in node.get("errors") or [] if isinstance(e, Mapping))
    return f"node {node.get('node_id')} ({node.get('class_type')}): {reasons or 'invalid'}"


def error_message(error: Mapping[str, Any]) -> str:
    """One line for RunPod's ``error`` (its local API shows nothing else): the message, and each bad node."""
    message = str(error.get("message") or f"job failed ({error.get('type', 'unknown')})")
    if isinstance(error.get("details"), str) and error["details"]:
        message += f" ({error['details']})"
    nodes = [_node_error_text(n) for n in error.get("node_errors") or [] if isinstance(n, Mapping)]
    return f"{message}: {' | '.join(nodes)}" if nodes else message


def job_failure(job: JobInfo) -> dict[str, Any]:
    """A failed or cancelled job: its structured error (docs/internals.md) as ``details``."""
    error = job.error or {"type": str(job.status), "message": f"job ended {job.status}"}
    return failure(error_message(error), dict(error), job.id)


def invalid_input(exc: InvalidRequest) -> dict[str, Any]:
    """A request the transport refused before any job was written."""
    details = {"type": "invalid_input", "message": exc.detail, **exc.extra}
    return failure(exc.detail, details)


def store_full(exc: StoreFull) -> dict[str, Any]:
    """No room in the store for the job (HTTP's 507): nothing was written."""
    return failure(str(exc), {"type": "store_full", "message": str(exc), "disk_free_bytes": exc.free_bytes})


def progress(job: JobInfo, queue_position: int | None) -> dict[str, Any] | None:
    """What RunPod's status shows as the job's ``output`` while it is not finished; None when terminal."""
    if job.status is JobStatus.PENDING:
        return {"status": "pending", "queue_position": queue_position}
    if job.status is not JobStatus.RUNNING:
        return None
    p = job.progress
    if p is None:
        return {"status": "running"}
    percent = round(100 * p.value / p.max, 1) if p.max else None
    return {"status": "running", "value": p.value, "max": p.max, "percent": percent, "node": p.node,
            "node_type": p.node_type}
