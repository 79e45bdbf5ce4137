"""A job's progress in the store, forwarded to RunPod with ``progress_update`` whenever it changes.

Payloads: ``transports.worker_output.progress`` (the same the self-hosted ``/v2`` status shows as ``output``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from store import JobInfo
from transports.worker_output import progress as payload

# runpod.serverless.progress_update(job, progress): one POST to RUNPOD_WEBHOOK_POST_OUTPUT, in a thread
ProgressSink = Callable[[dict[str, Any], dict[str, Any]], None]


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
