"""The job service both transports call: submit, status, wait for the end, cancel, and the admin operations.

It only reads and writes the store; the executor picks jobs up from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

from store import InvalidTransition, JobInfo, JobNotFound, JobStatus, OutputFile, OutputRef, Store
from store.clients import DEFAULT_OWNER
from store.policy import NodeLists
from transports.batching import Batcher
from transports.bodies import (
    CleanupBody,
    ComponentBody,
    DeletedBody,
    HealthBody,
    JobsPage,
    JobStats,
    ResetStuckBody,
    StatsBody,
    StatusBody,
    SubmitBody,
)
from transports.disk import RoomGate, disk_body, disk_problem
from transports.errors import InvalidRequest, OutputNotFound, OverQuota
from transports.limits import DEFAULT_LIMITS, Limits
from transports.render import OutputsMode, has_stored_outputs, render_status, summary
from transports.requests import JobRequest
from transports.streaming import STREAM_OVER, BodyStream, output_stream, status_stream
from transports.watcher import JobWatcher
from transports.workflow_policy import PolicySource


class Submission(NamedTuple):
    request: JobRequest
    owner: str
    max_pending: int | None


def unhealthy_reason(components: dict[str, ComponentBody]) -> str | None:
    """Why the daemon is unhealthy: a ComfyUI instance not running, or any component fatal."""
    for name, component in components.items():
        if component.state == "fatal":
            return f"{name} is fatal"
        if name.startswith("comfyui-") and component.state != "running":
            return f"{name} is {component.state}"
    return None


class JobService:
    """Owns no resource: the store it is given belongs to the calling thread (the event loop's).

    ``open_store`` makes another Store, for work done on a worker thread (cleanup)."""

    def __init__(self, store: Store, *, max_images: int = 32, max_attempts: int = 3,
                 default_timeout_s: float | None = None, poll_interval_s: float = 0.5, store_wakeup: bool = True,
                 node_lists: NodeLists | None = None, heartbeat_stale_s: float = 30.0,
                 limits: Limits = DEFAULT_LIMITS, open_store: Callable[[], Store] | None = None) -> None:
        self.store = store
        self.policy = PolicySource(store, node_lists or NodeLists())  # .current(): what a request is checked against
        self.max_images = max_images
        self.limits = limits  # what a request may ask of ComfyUI (checked by transports.requests)
        self.max_attempts = max_attempts
        self.default_timeout_s = default_timeout_s
        self.heartbeat_stale_s = heartbeat_stale_s
        self.open_store = open_store or (lambda: Store(store.path, migrate_schema=False))
        self.watcher = JobWatcher(store, poll_interval_s=poll_interval_s, wakeup=store_wakeup)
        self.room = RoomGate(store)
        self._batcher: Batcher[Submission, SubmitBody | OverQuota] = Batcher(self._submit_many)

    # --- jobs ----------------------------------------------------------------------------------------------

    def _spec(self, request: JobRequest, owner: str = DEFAULT_OWNER) -> dict[str, Any]:
        return {"workflow": request.workflow, "images": request.images, "options": request.options,
                "priority": request.priority, "max_attempts": self.max_attempts,
                "timeout_s": request.timeout_s or self.default_timeout_s, "owner": owner}

    def submit(self, request: JobRequest, owner: str = DEFAULT_OWNER) -> SubmitBody:
        """Commit the job; only then is its id returned. Raises StoreFull (nothing written) without room."""
        with self.room.for_jobs():
            job = self.store.create_job(**self._spec(request, owner))
        return SubmitBody(job_id=job.id, status=job.status)

    def _submit_many(self, submissions: list[Submission]) -> list[SubmitBody | OverQuota]:
        """One commit for all; a client's submissions beyond its ``max_pending`` are refused, in order (this
        process is the only one that submits for named clients, and this runs on its loop: exact)."""
        pending: dict[str, int] = {}
        answers: list[SubmitBody | OverQuota | None] = []
        accepted: list[Submission] = []
        for sub in submissions:
            if sub.max_pending is not None:
                n = pending[sub.owner] if sub.owner in pending else self.store.pending_of(sub.owner)
                if n >= sub.max_pending:
                    answers.append(OverQuota(f"max_pending: this key may have at most {sub.max_pending} pending "
                                             "jobs", retry_after_s=1, pending=n))
                    continue
                pending[sub.owner] = n + 1
            answers.append(None)
            accepted.append(sub)
        with self.room.for_jobs():
            jobs = iter(self.store.create_jobs([self._spec(sub.request, sub.owner) for sub in accepted]))
        return [answer or SubmitBody(job_id=(job := next(jobs)).id, status=job.status) for answer in answers]

    async def submit_batched(self, request: JobRequest, owner: str = DEFAULT_OWNER,
                             max_pending: int | None = None, max_priority: int | None = None) -> SubmitBody:
        """Like ``submit``; submissions of the same loop turn share one commit (see transports.batching).
        Raises OverQuota when ``owner`` already has ``max_pending`` pending jobs, or asks for a priority above
        ``max_priority``."""
        if max_priority is not None and request.priority > max_priority:
            raise OverQuota(f"max_priority: this key may ask for priority {max_priority} at most",
                            retry_after_s=60, priority=request.priority)
        answer = await self._batcher(Submission(request, owner, max_pending))
        if isinstance(answer, OverQuota):
            raise answer
        return answer

    def render(self, job: JobInfo, outputs: OutputsMode = "base64") -> StatusBody:
        stored = None
        if outputs == "base64" and has_stored_outputs(job.result):
            stored = {out.index: out.data for out in self.store.get_outputs(job.id)}
        position = self.store.pending_position(job.id) if job.status is JobStatus.PENDING else None
        return render_status(job, outputs=stored, queue_position=position)

    def status(self, job_id: str, outputs: OutputsMode = "base64", owner: str | None = None) -> StatusBody:
        """Raises JobNotFound (also for another client's job, when ``owner`` is given)."""
        self.store.check_owner(job_id, owner)
        return self.render(self.store.get_job_info(job_id), outputs)

    async def respond(self, job: JobInfo | str, outputs: OutputsMode = "base64",
                      owner: str | None = None) -> StatusBody | BodyStream:
        """The status body; streamed from the store when its stored outputs are large. Raises JobNotFound."""
        if isinstance(job, str):
            self.store.check_owner(job, owner)
        info = self.store.get_job_info(job) if isinstance(job, str) else job
        large = (outputs == "base64" and has_stored_outputs(info.result)
                 and sum(ref.size for ref in self.store.output_refs(info.id)) > STREAM_OVER)
        if large:
            return await status_stream(self.store.path, info)
        return self.render(info, outputs)

    async def wait(self, job_id: str, timeout_s: float, owner: str | None = None) -> JobInfo:
        """The job once terminal, or as it is when ``timeout_s`` runs out (see transports.watcher)."""
        self.store.check_owner(job_id, owner)
        return await self.watcher.wait(job_id, timeout_s)

    async def close(self) -> None:
        await self.watcher.close()

    def cancel(self, job_id: str, owner: str | None = None) -> StatusBody:
        """pending -> cancelled now; running -> interrupted by its executor. Raises InvalidTransition."""
        self.store.check_owner(job_id, owner)
        self.store.cancel(job_id)
        self.watcher.notify()
        return self.status(job_id, "none")

    def output(self, job_id: str, index: int) -> OutputFile:
        """Raises JobNotFound or OutputNotFound."""
        out = self.store.get_output(job_id, index)
        if out is None:
            self.store.get_job(job_id)
            raise OutputNotFound(f"job {job_id} has no stored output {index}", job_id=job_id, index=index)
        return out

    async def open_output(self, job_id: str, index: int,
                          owner: str | None = None) -> OutputFile | tuple[OutputRef, BodyStream]:
        """The output's bytes, or a stream of them when large. Raises JobNotFound or OutputNotFound."""
        self.store.check_owner(job_id, owner)
        ref = next((ref for ref in self.store.output_refs(job_id) if ref.index == index), None)
        if ref is not None and ref.size > STREAM_OVER:
            opened = await output_stream(self.store.path, job_id, index)
            if opened is not None:
                return opened
        return self.output(job_id, index)

    def list_jobs(self, status: JobStatus | None, limit: int, cursor: str | None,
                  owner: str | None = None) -> JobsPage:
        """Only ``owner``'s jobs when given."""
        try:
            page = self.store.list_job_infos(status, limit=limit, cursor=cursor, owner=owner)
        except ValueError as exc:
            raise InvalidRequest(str(exc), cursor=cursor) from None
        return JobsPage(jobs=[summary(job) for job in page.jobs], next_cursor=page.next_cursor)

    # --- monitoring ----------------------------------------------------------------------------------------

    def job_stats(self) -> JobStats:
        return JobStats(**self.store.stats())

    def health(self) -> HealthBody:
        """``unhealthy`` when the store cannot be read or a component is known down."""
        try:
            stats = self.job_stats()
            components = {c.name: ComponentBody(state=c.state, pid=c.pid, restarts=c.restarts,
                                                detail=c.detail, updated_at=c.updated_at)
                          for c in self.store.components()}
            disk = disk_body(self.store)
        except Exception as exc:  # any failure to read the store means unhealthy, never a 500
            return HealthBody(status="unhealthy", database_path=self.store.path,
                              detail=f"store unreadable: {type(exc).__name__}: {exc}")
        reason = disk_problem(disk, self.store.path) or unhealthy_reason(components)
        return HealthBody(status="unhealthy" if reason else "healthy", database_path=self.store.path,
                          job_stats=stats, components=components, detail=reason, disk=disk)

    def stats(self, include_recent: bool = False, limit: int = 10, owner: str | None = None) -> StatsBody:
        """Counts of every job; ``clients`` breaks them down by client (only ``owner``'s when given), and the
        recent jobs are ``owner``'s."""
        s = self.job_stats()
        recent = ([summary(job) for job in self.store.list_job_infos(limit=limit, owner=owner).jobs]
                  if include_recent else None)
        clients = {name: JobStats(**{**dict.fromkeys(JobStats.__struct_fields__, 0), **counts,
                                     "total": sum(counts.values())})
                   for name, counts in self.store.counts_by_owner().items() if owner is None or name == owner}
        return StatsBody(total_jobs=s.total, pending_jobs=s.pending, running_jobs=s.running,
                         completed_jobs=s.completed, failed_jobs=s.failed, cancelled_jobs=s.cancelled,
                         recent_jobs=recent, disk=disk_body(self.store), clients=clients)

    # --- administration ------------------------------------------------------------------------------------

    async def cleanup(self, max_age_hours: float, actor: str = DEFAULT_OWNER) -> CleanupBody:
        """On a worker thread with a Store of its own: deleting many jobs never holds up the event loop."""
        n = await asyncio.to_thread(self._cleanup, max_age_hours)
        self.store.audit(actor, "admin.cleanup", detail={"max_age_hours": max_age_hours, "deleted_jobs": n})
        return CleanupBody(deleted_jobs=n, max_age_hours=max_age_hours, message=f"Cleaned up {n} old jobs")

    def _cleanup(self, max_age_hours: float) -> int:
        store = self.open_store()
        try:
            return store.cleanup(max_age_hours)
        finally:
            store.close()

    def reset_stuck(self, max_running_hours: float, actor: str = DEFAULT_OWNER) -> ResetStuckBody:
        """Jobs running too long whose heartbeat is stale go back to pending, or end failed (cancelled if asked)
        without attempts; those whose executor still heartbeats are asked to stop through it (``timeout``)."""
        reset = self.store.reset_stuck(max_running_hours, stale_after_s=self.heartbeat_stale_s)
        recovered = reset.recovered
        self.watcher.notify()
        requeued = [r.id for r in recovered if r.status is JobStatus.PENDING]
        ended = [r.id for r in recovered if r.status is not JobStatus.PENDING]
        self.store.audit(actor, "admin.reset_stuck", detail={"max_running_time_hours": max_running_hours,
                                                              "requeued": requeued, "failed": ended,
                                                              "stopping": reset.stopping})
        return ResetStuckBody(reset_jobs=len(recovered), requeued=requeued, failed=ended,
                              max_running_time_hours=max_running_hours, stopping=reset.stopping,
                              message=f"Reset {len(recovered)} stuck jobs, asked {len(reset.stopping)} "
                                      "running jobs to stop")

    def delete(self, job_id: str, actor: str = DEFAULT_OWNER) -> DeletedBody:
        """Raises JobNotFound, or InvalidTransition while the job is pending or running."""
        try:
            self.store.delete_job(job_id)
        except (JobNotFound, InvalidTransition) as exc:
            self.store.audit(actor, "admin.delete_job", target=job_id, result=type(exc).__name__)
            raise
        self.store.audit(actor, "admin.delete_job", target=job_id)
        self.watcher.notify()
        return DeletedBody(job_id=job_id, deleted=True, message=f"Job {job_id} deleted")
