"""RunPod's endpoint API bodies, as runpod-python's ``Endpoint`` client sends and reads them (camelCase).

Request: ``{"input": {<worker-comfyui input>}, "webhook": "https://...", "policy": {"executionTimeout": ms,
"ttl": ms}}``. Responses: ``{"id", "status"}`` from /run and /cancel; ``{"id", "status", "delayTime",
"executionTime", "output", "error"}`` from /status and /runsync; ``{"status", "stream": [{"output"}]}`` from
/stream; ``{"jobs": {...}, "workers": {...}}`` from /health; ``{"removed", "status"}`` from /purge-queue.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from transports.requests import JobInput

WEEK_MS = 7 * 86400 * 1000

ExecutionTimeoutMs = Annotated[int, Meta(ge=1000, le=WEEK_MS, description="the job's deadline, in ms")]
TtlMs = Annotated[int, Meta(ge=1000, le=WEEK_MS, description="not supported here: refused with 400")]
WebhookUrl = Annotated[str, Meta(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$",
                                 description="an http(s) URL called when the job ends")]


class RunPodStatus(enum.StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class Policy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """RunPod's per-job policy: ``executionTimeout`` becomes the job's deadline (``timeout_s``)."""

    execution_timeout: ExecutionTimeoutMs | None = None
    ttl: TtlMs | None = None


class V2RunBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Body of POST /v2/{endpoint_id}/run and /runsync."""

    input: Annotated[JobInput, Meta(description="worker-comfyui's input: workflow, images, ...")]
    webhook: WebhookUrl | None = None
    policy: Policy | None = None


class V2Submitted(msgspec.Struct, frozen=True):
    id: str
    status: RunPodStatus


class V2Status(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    """A job as RunPod shows it; ``output`` is worker-comfyui's (progress while not finished)."""

    id: str
    status: RunPodStatus
    delay_time: Annotated[int | None, Meta(description="ms from submission to the start of its run")] = None
    execution_time: Annotated[int | None, Meta(description="ms the run took")] = None
    output: dict[str, Any] | None = None
    error: str | None = None


class V2Chunk(msgspec.Struct, frozen=True):
    output: dict[str, Any]


class V2Stream(msgspec.Struct, frozen=True):
    """The job's current progress as one chunk while it is not finished; none once it is."""

    id: str
    status: RunPodStatus
    stream: list[V2Chunk]


class V2JobCounts(msgspec.Struct, frozen=True, rename="camel"):
    completed: int
    failed: int
    in_progress: int
    in_queue: int
    retried: int


class V2WorkerCounts(msgspec.Struct, frozen=True):
    idle: int
    running: int


class V2Health(msgspec.Struct, frozen=True):
    jobs: V2JobCounts
    workers: V2WorkerCounts


class V2Purged(msgspec.Struct, frozen=True):
    removed: int
    status: str = "completed"
