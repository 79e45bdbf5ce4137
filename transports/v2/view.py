"""A store job as RunPod's endpoint API shows it: its status, times in ms, and worker-comfyui's output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store import JobInfo, JobStatus
from transports.v2.bodies import RunPodStatus, V2Chunk, V2Status, V2Stream
from transports.worker_output import job_failure, progress, success

_PLAIN = {JobStatus.PENDING: RunPodStatus.IN_QUEUE, JobStatus.RUNNING: RunPodStatus.IN_PROGRESS,
          JobStatus.COMPLETED: RunPodStatus.COMPLETED, JobStatus.CANCELLED: RunPodStatus.CANCELLED}


def runpod_status(job: JobInfo) -> RunPodStatus:
    """pending -> IN_QUEUE, running -> IN_PROGRESS; a failure of type ``timeout`` (the job's deadline) is
    TIMED_OUT, any other FAILED."""
    if job.status is JobStatus.FAILED:
        timed_out = (job.error or {}).get("type") == "timeout"
        return RunPodStatus.TIMED_OUT if timed_out else RunPodStatus.FAILED
    return _PLAIN[job.status]


def _ms(start: float | None, end: float | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start) * 1000))


def status_body(job: JobInfo, outputs: Mapping[int, bytes] | None, queue_position: int | None) -> V2Status:
    """``outputs``: the stored output bytes of a completed job (inlined as base64)."""
    status = runpod_status(job)
    output: dict[str, Any] | None
    error = None
    if job.status is JobStatus.COMPLETED:
        output = success(job, outputs)
    elif job.status is JobStatus.FAILED:
        output = job_failure(job)  # as the SDK reports a handler's failure: ``error`` beside the output
        error = str(output.pop("error"))
    else:
        output = progress(job, queue_position)  # None once cancelled
    execution = _ms(job.started_at, job.completed_at) if job.status.terminal else None
    return V2Status(id=job.id, status=status, delay_time=_ms(job.created_at, job.started_at),
                    execution_time=execution, output=output, error=error)


def stream_body(job: JobInfo, queue_position: int | None) -> V2Stream:
    """One chunk (the progress) while the job is not finished, none after: the SDK's ``stream()`` ends."""
    current = progress(job, queue_position)
    chunks = [V2Chunk(output=current)] if current is not None else []
    return V2Stream(id=job.id, status=runpod_status(job), stream=chunks)
