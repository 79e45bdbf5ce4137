"""A job's progress in the store, forwarded to RunPod with ``progress_update`` whenever it changes.

Payloads: ``{"status": "pending", "queue_position": n}`` while queued, then
``{"status": "running", "value", "max", "percent", "node", "node_type"}`` while ComfyUI runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store import JobInfo, JobStatus

# runpod.serverless.progress_update(job, progress): one POST to RUNPOD_WEBHOOK_POST_OUTPUT, in a thread
ProgressSink = Callable[[dict[str, Any], dict[str, Any]], None]


def payload(job: JobInfo, queue_position: int | None) -> dict[str, Any] | None:
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


class ProgressForwarder:
    """Sends one RunPod job's progress when it changed; ``send`` None = only logged (no RunPod to tell)."""

    def __init__(self, send: ProgressSink | None, rp_job: dict[str, Any], log: Any) -> None:
        self.send = send
        self.rp_job = rp_job
        self.log = log
        self.last: dict[str, Any] | None = None

    def update(self, job: JobInfo, queue_position: int | None) -> None:
        current = payload(job, queue_position)
        if current is None or current == self.last:
            return
        self.last = current
        self.log.debug("runpod_progress", **current)
        if self.send is None:
            return
        try:
            self.send(self.rp_job, current)
        except Exception as exc:  # progress is a hint: never let it break the job
            self.log.warning("runpod_progress_failed", error=f"{type(exc).__name__}: {exc}")
