"""Administration: cleanup, stuck-job reset, job deletion (guarded by ADMIN_API_KEY when set)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from store import JobStatus
from transports.bodies import CleanupBody, DeletedBody, ResetStuckBody
from transports.http.controllers.responses import errors
from transports.service import JobService

Service = NamedDependency[JobService]

Hours = Annotated[float, QueryParameter(ge=0, le=1_000_000, description="hours")]


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    opt = {"admin": True}

    @post("/cleanup", status_code=200, sync_to_thread=False, responses=errors(400, 401, 403))
    def cleanup(self, service: Service, max_age_hours: Hours = 24) -> CleanupBody:
        """Delete completed, failed and cancelled jobs older than ``max_age_hours``."""
        n = service.store.cleanup(max_age_hours)
        return CleanupBody(deleted_jobs=n, max_age_hours=max_age_hours, message=f"Cleaned up {n} old jobs")

    @post("/reset-stuck", status_code=200, sync_to_thread=False, responses=errors(400, 401, 403))
    def reset_stuck(self, service: Service, max_running_time_hours: Hours = 2) -> ResetStuckBody:
        """Return jobs running longer than this to pending (failed when their attempts are used up)."""
        recovered = service.store.reset_stuck(max_running_time_hours)
        requeued = [r.id for r in recovered if r.status is JobStatus.PENDING]
        failed = [r.id for r in recovered if r.status is not JobStatus.PENDING]
        return ResetStuckBody(reset_jobs=len(recovered), requeued=requeued, failed=failed,
                              max_running_time_hours=max_running_time_hours,
                              message=f"Reset {len(recovered)} stuck jobs")

    @delete("/job/{job_id:str}", status_code=200, sync_to_thread=False, responses=errors(401, 403, 404, 409))
    def delete_job(self, job_id: FromPath[str], service: Service) -> DeletedBody:
        """Delete a completed, failed or cancelled job and its files; 409 while pending or running."""
        service.store.delete_job(job_id)
        return DeletedBody(job_id=job_id, deleted=True, message=f"Job {job_id} deleted")
