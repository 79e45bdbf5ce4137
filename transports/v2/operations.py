"""What each ``/v2/{endpoint_id}/...`` route does with the job service (the same jobs as /run and /status)."""

from __future__ import annotations

import asyncio
import contextlib
import re

import msgspec

from config.keys import KeyLimits
from store import InvalidTransition, JobInfo, JobStatus, Store
from store.clients import DEFAULT_OWNER
from transports.errors import InvalidRequest, UnknownEndpoint
from transports.render import has_stored_outputs
from transports.requests import JobRequest, RunBody, validate_async
from transports.service import JobService
from transports.streaming import STREAM_OVER
from transports.v2.bodies import (
    RunPodStatus,
    V2Health,
    V2JobCounts,
    V2Purged,
    V2RunBody,
    V2Status,
    V2Stream,
    V2Submitted,
    V2WorkerCounts,
)
from transports.v2.view import runpod_status, status_body, stream_body

ENDPOINT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # V2_ENDPOINT_ID's form (config.settings.EndpointId)


def check_endpoint(endpoint_id: str, served: str | None) -> None:
    """V2_ENDPOINT_ID set: only that id; unset: any id of RunPod's form. Raises UnknownEndpoint (404)."""
    if not ENDPOINT_ID.fullmatch(endpoint_id) or (served is not None and endpoint_id != served):
        raise UnknownEndpoint("no such endpoint: this daemon serves "
                              + (f"/v2/{served}/" if served else "/v2/<endpoint id>/ (letters, digits, - or _)"))


async def request(body: V2RunBody, service: JobService) -> JobRequest:
    """The job a RunPod body asks for; ``policy.executionTimeout`` (ms) is its deadline. Raises InvalidRequest."""
    policy = body.policy
    if policy is not None and policy.ttl is not None:
        raise InvalidRequest("'policy.ttl' is not supported: this daemon keeps a queued job until it runs or is "
                             "cancelled (cancel it with /cancel, or set 'policy.executionTimeout' to bound its run)",
                             field="policy.ttl")
    # TODO(issue 13): pass body.webhook to the job the way /run's webhook field does, once /run has one
    job = await validate_async(RunBody(input=body.input), max_images=service.max_images, limits=service.limits,
                               policy=service.policy.current())
    if policy is not None and policy.execution_timeout is not None:
        job = msgspec.structs.replace(job, timeout_s=policy.execution_timeout / 1000)
    return job


async def submit(body: V2RunBody, service: JobService, owner: str = DEFAULT_OWNER,
                 limits: KeyLimits | None = None) -> V2Submitted:
    """The job, owned by ``owner`` (a named key's client) within its ``limits``. Raises OverQuota."""
    limits = limits or KeyLimits()
    submitted = await service.submit_batched(await request(body, service), owner, limits.max_pending,
                                             limits.max_priority)
    return V2Submitted(id=submitted.job_id, status=RunPodStatus.IN_QUEUE)


def _position(service: JobService, job: JobInfo) -> int | None:
    return service.store.pending_position(job.id) if job.status is JobStatus.PENDING else None


def status(service: JobService, job: JobInfo | str, owner: str | None = None) -> V2Status:
    """Raises JobNotFound (also for another client's job, when ``owner`` is given)."""
    if isinstance(job, str):
        service.store.check_owner(job, owner)
    info = service.store.get_job_info(job) if isinstance(job, str) else job
    return _status(service.store, info, _position(service, info))


def _status(store: Store, info: JobInfo, position: int | None) -> V2Status:
    stored = None
    if info.status is JobStatus.COMPLETED and has_stored_outputs(info.result):
        stored = {out.index: out.data for out in store.get_outputs(info.id)}
    return status_body(info, stored, position)


async def status_async(service: JobService, job: JobInfo | str, owner: str | None = None) -> V2Status:
    """``status``; a completed job's large outputs are read and encoded on a worker thread with a Store of its
    own, so the event loop keeps serving. Raises JobNotFound."""
    if isinstance(job, str):
        service.store.check_owner(job, owner)
    info = service.store.get_job_info(job) if isinstance(job, str) else job
    large = (info.status is JobStatus.COMPLETED and has_stored_outputs(info.result)
             and sum(ref.size for ref in service.store.output_refs(info.id)) > STREAM_OVER)
    if not large:
        return status(service, info)
    return await asyncio.to_thread(_status_on_own_store, service, info)


def _status_on_own_store(service: JobService, info: JobInfo) -> V2Status:
    store = service.open_store()
    try:
        return _status(store, info, None)
    finally:
        store.close()


def stream(service: JobService, job_id: str, owner: str | None = None) -> V2Stream:
    """Raises JobNotFound."""
    service.store.check_owner(job_id, owner)
    info = service.store.get_job_info(job_id)
    return stream_body(info, _position(service, info))


def cancel(service: JobService, job_id: str, owner: str | None = None) -> V2Submitted:
    """pending -> CANCELLED now; running -> stays IN_PROGRESS until its executor has stopped it; a finished job
    is left as it is (its status is the answer, as RunPod's). Raises JobNotFound."""
    service.store.check_owner(job_id, owner)
    with contextlib.suppress(InvalidTransition):
        service.store.cancel(job_id)
        service.watcher.notify()
    return V2Submitted(id=job_id, status=runpod_status(service.store.get_job_info(job_id)))


def health(service: JobService) -> V2Health:
    """RunPod's counts: jobs per state (cancelled ones are in none), executors idle or running a job."""
    counts = service.store.stats()
    executors = sum(1 for c in service.store.components()
                    if c.name.startswith("executor-") and c.state == "running")
    busy = min(executors, counts["running"])
    jobs = V2JobCounts(completed=counts["completed"], failed=counts["failed"],
                       in_progress=counts["running"], in_queue=counts["pending"],
                       retried=service.store.retried_count())
    return V2Health(jobs=jobs, workers=V2WorkerCounts(idle=executors - busy, running=busy))


def purge(service: JobService) -> V2Purged:
    """Every pending job -> cancelled (running jobs go on)."""
    removed = service.store.purge_pending()
    service.watcher.notify()
    return V2Purged(removed=len(removed))
