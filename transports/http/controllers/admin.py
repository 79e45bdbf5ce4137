"""Administration: cleanup, stuck-job reset, job deletion (guarded by ADMIN_API_KEY when set)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from transports.bodies import CleanupBody, DeletedBody, ResetStuckBody
from transports.http.clients import Caller
from transports.http.controllers.responses import errors
from transports.service import JobService

Service = NamedDependency[JobService]
Who = NamedDependency[Caller]

Hours = Annotated[float, QueryParameter(ge=0, le=1_000_000, description="hours")]


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    opt = {"admin": True}

    @post("/cleanup", status_code=200, responses=errors(400, 401, 403, 415))
    async def cleanup(self, service: Service, caller: Who, max_age_hours: Hours = 24) -> CleanupBody:
        """Delete completed, failed and cancelled jobs older than ``max_age_hours`` (in batches, off the
        event loop: the API keeps answering meanwhile)."""
        return await service.cleanup(max_age_hours, caller.name)

    @post("/reset-stuck", status_code=200, sync_to_thread=False, responses=errors(400, 401, 403, 415))
    def reset_stuck(self, service: Service, caller: Who, max_running_time_hours: Hours = 2) -> ResetStuckBody:
        """Jobs running longer than this: with a stale heartbeat back to pending (failed when their attempts are
        used up); with a live executor asked to stop through it (they end failed with a ``timeout`` error)."""
        return service.reset_stuck(max_running_time_hours, caller.name)

    @delete("/job/{job_id:str}", status_code=200, sync_to_thread=False,
             responses=errors(401, 403, 404, 409, 415))
    def delete_job(self, job_id: FromPath[str], service: Service, caller: Who) -> DeletedBody:
        """Delete a completed, failed or cancelled job and its files; 409 while pending or running."""
        return service.delete(job_id, caller.name)
