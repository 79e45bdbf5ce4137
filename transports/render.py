"""Jobs as clients see them: the status body with output bytes as base64 (or not), and job summaries."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal

from store import Job, JobStatus
from transports.bodies import JobSummary, StatusBody

OutputsMode = Literal["base64", "none"]


def has_stored_outputs(result: Mapping[str, Any] | None) -> bool:
    """Whether a result refers to output bytes kept in the store (entries of type base64)."""
    if not result:
        return False
    return any(isinstance(entry, dict) and entry.get("type") == "base64" and "output_index" in entry
               for entries in result.values() if isinstance(entries, list) for entry in entries)


def render_result(result: dict[str, Any] | None,
                  outputs: Mapping[int, bytes] | None) -> dict[str, Any] | None:
    """The result with ``data`` = base64 of each stored output; unchanged when ``outputs`` is None."""
    if result is None or outputs is None:
        return result
    rendered: dict[str, Any] = {}
    for key, entries in result.items():
        if isinstance(entries, list):
            entries = [_with_data(entry, outputs) for entry in entries]
        rendered[key] = entries
    return rendered


def _with_data(entry: Any, outputs: Mapping[int, bytes]) -> Any:
    if not (isinstance(entry, dict) and entry.get("type") == "base64"):
        return entry
    data = outputs.get(entry.get("output_index"))  # type: ignore[arg-type]
    return entry if data is None else {**entry, "data": base64.b64encode(data).decode()}


def render_status(job: Job, *, outputs: Mapping[int, bytes] | None = None,
                  queue_position: int | None = None) -> StatusBody:
    running = job.status is JobStatus.RUNNING
    return StatusBody(
        job_id=job.id, status=job.status, result=render_result(job.result, outputs), error=job.error,
        created_at=job.created_at, started_at=job.started_at, completed_at=job.completed_at,
        attempts=job.attempts, progress=job.progress if running else None, queue_position=queue_position,
        cancel_requested=job.cancel_requested and running,
    )


def summary(job: Job) -> JobSummary:
    return JobSummary(id=job.id, status=job.status, created_at=job.created_at, started_at=job.started_at,
                      completed_at=job.completed_at, error=job.error, priority=job.priority,
                      attempts=job.attempts)

