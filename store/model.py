"""Jobs, their states, and the one table of allowed transitions."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from store.sources import InputRef


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Every edge a job may take, and the store operation (named query) that takes it.
# Each of those queries names its source state in its WHERE clause; zero rows changed raises.
TRANSITIONS: dict[tuple[JobStatus, JobStatus], str] = {
    (JobStatus.PENDING, JobStatus.RUNNING): "claim",
    (JobStatus.PENDING, JobStatus.CANCELLED): "cancel_pending",
    (JobStatus.RUNNING, JobStatus.COMPLETED): "complete",
    (JobStatus.RUNNING, JobStatus.FAILED): "fail | requeue | recover (attempts used up)",
    (JobStatus.RUNNING, JobStatus.CANCELLED): "finish_cancelled | requeue | recover (cancel asked for)",
    (JobStatus.RUNNING, JobStatus.PENDING): "requeue | release | recover (attempts left)",
}


class Progress(msgspec.Struct, frozen=True, omit_defaults=True):
    value: int = 0
    max: int = 0
    node: str | None = None
    node_type: str | None = None


class JobInfo(msgspec.Struct, frozen=True):
    """A job without its request (the workflow, possibly megabytes): what status pages and waiters read."""

    id: str
    status: JobStatus
    priority: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: float
    started_at: float | None
    completed_at: float | None
    attempts: int
    max_attempts: int
    timeout_s: float | None
    worker_id: str | None
    heartbeat_at: float | None
    progress: Progress | None
    cancel_requested: bool
    ran_on: str | None = None  # 'local' or 'runpod' once claimed (Place)


class Place(enum.StrEnum):
    """Where a job ran (``jobs.ran_on``): an executor of this daemon, or a RunPod endpoint (the forwarder)."""

    LOCAL = "local"
    RUNPOD = "runpod"


class Job(JobInfo, frozen=True, kw_only=True):
    """A job with its request, for the executor (which runs the workflow)."""

    request: dict[str, Any]

    @property
    def workflow(self) -> dict[str, Any]:
        return self.request["workflow"]  # type: ignore[no-any-return]

    @property
    def options(self) -> dict[str, Any]:
        return self.request.get("options") or {}

    @property
    def references(self) -> list[InputRef]:
        """Its inputs given by URL or ``s3://``, which the executor fetches into ``job_inputs``."""
        return msgspec.convert(self.request.get("references") or [], list[InputRef])


class InputImage(msgspec.Struct, frozen=True):
    name: str
    data: bytes


class OutputFile(msgspec.Struct, frozen=True):
    """Bytes of one output kept in the store; ``index`` is what result entries refer to."""

    index: int
    filename: str
    content_type: str
    data: bytes


class Component(msgspec.Struct, frozen=True):
    name: str
    pid: int | None
    state: str
    restarts: int
    detail: str | None
    updated_at: float


class Recovered(msgspec.Struct, frozen=True):
    id: str
    status: JobStatus


class Lease(msgspec.Struct, frozen=True):
    """What a heartbeat tells the executor of a job it runs: carry on, or stop it (and why)."""

    cancel_requested: bool = False  # a client cancelled it: interrupt, end cancelled
    stop_requested: bool = False  # over the stuck-job limit (reset-stuck): interrupt, end failed with `timeout`


class StuckReset(msgspec.Struct, frozen=True):
    """What a stuck-job reset did: jobs no executor runs any more are recovered (requeued or ended); jobs
    whose executor still heartbeats are asked to stop through that executor, never requeued behind its back."""

    recovered: list[Recovered]
    stopping: list[str]


class Page(msgspec.Struct, frozen=True):
    jobs: list[Job]
    next_cursor: str | None


class InfoPage(msgspec.Struct, frozen=True):
    """A page of jobs without their requests (``Store.list_job_infos``)."""

    jobs: list[JobInfo]
    next_cursor: str | None


class OutputRef(msgspec.Struct, frozen=True):
    """Where one output's bytes are, without reading them: ``row`` for incremental blob reads."""

    index: int
    filename: str
    content_type: str
    size: int
    row: int


class RemoteRef(msgspec.Struct, frozen=True):
    """A job's remote side (the forwarder): RunPod's id once known, and when its POST /run was about to be sent."""

    remote_id: str | None
    sent_at: float | None
    ran_on: str | None
