"""Response bodies shared by the transports: the seed's field names, plus extras a seed client ignores.

Fields without a default are always sent (``null`` included, as the seed does); fields with one are sent
only when set (``omit_defaults``), e.g. ``progress`` while running and ``queue_position`` while pending.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from store import JobStatus, Progress

Timestamp = Annotated[float | None, Meta(description="seconds since the epoch")]


class SubmitBody(msgspec.Struct, frozen=True):
    job_id: str
    status: JobStatus


class StatusBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """A job's state; ``result`` entries of type base64 carry ``data`` unless ``outputs=none`` was asked."""

    job_id: str
    status: JobStatus
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: float
    started_at: Timestamp
    completed_at: Timestamp
    attempts: int
    progress: Progress | None = None
    queue_position: Annotated[int | None, Meta(description="1 = claimed next (pending jobs only)")] = None
    cancel_requested: bool = False


class JobSummary(msgspec.Struct, frozen=True):
    """A job without its result (the seed's ``recent_jobs`` entries)."""

    id: str
    status: JobStatus
    created_at: float
    started_at: Timestamp
    completed_at: Timestamp
    error: dict[str, Any] | None
    priority: int
    attempts: int


class JobsPage(msgspec.Struct, frozen=True):
    jobs: list[JobSummary]
    next_cursor: Annotated[str | None, Meta(description="pass as ?cursor= for the next page")]


class JobStats(msgspec.Struct, frozen=True):
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    total: int


class ComponentBody(msgspec.Struct, frozen=True):
    state: str
    pid: int | None
    restarts: int
    detail: str | None
    updated_at: float


class DiskBody(msgspec.Struct, frozen=True):
    """The store's size and the room it has left, in bytes."""

    state: Annotated[str, Meta(description="ok | low (new jobs get 507) | full (writes fail)")]
    store_bytes: Annotated[int, Meta(description="size of the database file")]
    store_used_bytes: Annotated[int, Meta(description="without its free pages (compared with STORE_MAX_MB)")]
    disk_free_bytes: int
    room_bytes: Annotated[int, Meta(description="what the store can still take: free pages + disk space")]
    min_free_bytes: Annotated[int, Meta(description="MIN_FREE_DISK_MB: less room than this refuses new jobs")]


class HealthBody(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Annotated[str, Meta(description="healthy | unhealthy (then HTTP 503)")]
    # every field but status is left out for a caller without a valid key while API_KEY is set
    database_path: str | None = None
    job_stats: JobStats | None = None
    components: dict[str, ComponentBody] = {}
    detail: str | None = None
    warnings: list[str] = []  # e.g. the API open beyond loopback (API_KEY unset)
    disk: DiskBody | None = None


class StatsBody(msgspec.Struct, frozen=True, omit_defaults=True):
    total_jobs: int
    pending_jobs: int
    running_jobs: int
    completed_jobs: int
    failed_jobs: int
    cancelled_jobs: int
    recent_jobs: list[JobSummary] | None = None
    disk: DiskBody | None = None
    clients: dict[str, JobStats] | None = None  # per client (named API key); a user's key sees only its own


class CleanupBody(msgspec.Struct, frozen=True):
    deleted_jobs: int
    max_age_hours: float
    message: str


class ResetStuckBody(msgspec.Struct, frozen=True):
    reset_jobs: int  # recovered: no executor heartbeats them any more
    requeued: list[str]
    failed: list[str]
    max_running_time_hours: float
    message: str
    stopping: list[str] = []  # their executor is alive: asked to interrupt them (they end failed, `timeout`)


class DeletedBody(msgspec.Struct, frozen=True):
    job_id: str
    deleted: bool
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error: ``detail`` says what went wrong; other fields (e.g. ``node_id``, ``image``) may follow."""

    detail: str
