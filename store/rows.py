"""Rows of the jobs table as model objects, and the cursors of job lists (shared by the Store's parts)."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from store.model import Job, JobInfo, JobStatus, Progress

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_decode_progress = msgspec.json.Decoder(Progress).decode
FAR_FUTURE = 1e18


def json_text(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


def job_from_row(row: tuple[Any, ...], ran_on_at: int | None = None) -> Job:
    """A ``SELECT *`` row; ``ran_on_at``: that column's place (migrations append columns)."""
    (job_id, status, priority, request, result, error, created_at, started_at, completed_at, attempts,
     max_attempts, timeout_s, worker_id, heartbeat_at, progress, cancel_requested) = row[:16]
    # columns added by later migrations (stop_requested) are read where they are needed, not into Job
    return Job(
        id=job_id, status=JobStatus(status), priority=priority, request=_decode(request),
        result=_decode(result) if result else None, error=_decode(error) if error else None,
        created_at=created_at, started_at=started_at, completed_at=completed_at, attempts=attempts,
        max_attempts=max_attempts, timeout_s=timeout_s, worker_id=worker_id, heartbeat_at=heartbeat_at,
        progress=_decode_progress(progress) if progress else None, cancel_requested=bool(cancel_requested),
        ran_on=row[ran_on_at] if ran_on_at is not None else None,
    )


def info_from_row(row: tuple[Any, ...]) -> JobInfo:
    """A row of the ``*job_info*`` queries (every column but ``request``)."""
    (job_id, status, priority, result, error, created_at, started_at, completed_at, attempts,
     max_attempts, timeout_s, worker_id, heartbeat_at, progress, cancel_requested, ran_on) = row
    return JobInfo(
        id=job_id, status=JobStatus(status), priority=priority,
        result=_decode(result) if result else None, error=_decode(error) if error else None,
        created_at=created_at, started_at=started_at, completed_at=completed_at, attempts=attempts,
        max_attempts=max_attempts, timeout_s=timeout_s, worker_id=worker_id, heartbeat_at=heartbeat_at,
        progress=_decode_progress(progress) if progress else None, cancel_requested=bool(cancel_requested),
        ran_on=ran_on,
    )


def encode_cursor(job: JobInfo) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at!r}|{job.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises ValueError for a cursor this store did not make."""
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return float(created), job_id
    except Exception as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
