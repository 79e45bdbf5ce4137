"""RunPod's endpoint API under ``/v2/{endpoint_id}``: run, runsync, status, stream, cancel, health, purge-queue.

The same jobs as /run and /status (transports.v2). Keys as on every route, plus RunPod's bare
``Authorization: <key>``; ``purge-queue`` cancels every pending job, so it is an admin route (ADMIN_API_KEY when
set). An endpoint id other than V2_ENDPOINT_ID (when set) is ``404``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, HttpMethod, get, post, route
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from transports.http.clients import Caller
from transports.http.controllers.responses import errors
from transports.service import JobService
from transports.v2 import operations
from transports.v2.bodies import V2Health, V2Purged, V2RunBody, V2Status, V2Stream, V2Submitted

Service = NamedDependency[JobService]
Who = NamedDependency[Caller]

WaitMs = Annotated[int, QueryParameter(ge=1000, le=300_000, description="ms to wait for the end (RunPod's "
                                                                           "1000-300000, default 90000)")]


async def endpoint_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    operations.check_endpoint(str(connection.path_params.get("endpoint_id", "")),
                              connection.app.state.get("v2_endpoint_id"))


class RunPodController(Controller):
    path = "/v2/{endpoint_id:str}"
    tags = ["runpod"]
    opt = {"runpod": True}  # the key may also come as RunPod's bare ``Authorization: <key>``
    guards = [endpoint_guard]

    @post("/run", status_code=200, responses=errors(400, 401, 403, 404, 413, 415, 429, 507))
    async def run(self, data: JSONBody[V2RunBody], service: Service, caller: Who) -> V2Submitted:
        """Queue a job (``{"input": {...}, "policy": {"executionTimeout": ms}}``); answered once committed."""
        return await operations.submit(data, service, caller.name, caller.limits)

    @post("/runsync", status_code=200, responses=errors(400, 401, 403, 404, 413, 415, 429, 507))
    async def runsync(self, data: JSONBody[V2RunBody], service: Service, caller: Who,
                      wait: WaitMs = 90_000) -> V2Status:
        """Queue a job and wait up to ``wait`` ms for its end; its status either way."""
        submitted = await operations.submit(data, service, caller.name, caller.limits)
        return await operations.status_async(service, await service.wait(submitted.id, wait / 1000))

    @route("/status/{job_id:str}", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200,
           responses=errors(401, 403, 404, 415))
    async def status(self, job_id: FromPath[str], service: Service, caller: Who) -> V2Status:
        """IN_QUEUE, IN_PROGRESS (``output``: the progress), COMPLETED (``output``: worker-comfyui's), FAILED,
        TIMED_OUT (``error``), CANCELLED; ``delayTime`` and ``executionTime`` in ms."""
        return await operations.status_async(service, job_id, caller.owner)

    @route("/stream/{job_id:str}", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200,
           sync_to_thread=False,
           responses=errors(401, 403, 404, 415))
    def stream(self, job_id: FromPath[str], service: Service, caller: Who) -> V2Stream:
        """The job's progress as one ``stream`` chunk while it is not finished; no chunk once it is."""
        return operations.stream(service, job_id, caller.owner)

    @post("/cancel/{job_id:str}", status_code=200, sync_to_thread=False, responses=errors(401, 403, 404, 415))
    def cancel(self, job_id: FromPath[str], service: Service, caller: Who) -> V2Submitted:
        """Cancel a pending job at once, or ask the executor to interrupt a running one; a finished job is left
        as it is. The answer is the job's status afterwards."""
        return operations.cancel(service, job_id, caller.owner)

    @get("/health", sync_to_thread=False, responses=errors(401, 403, 404))
    def health(self, service: Service) -> V2Health:
        """RunPod's counts: ``jobs`` (completed, failed, inProgress, inQueue, retried) and ``workers`` (idle,
        running executors)."""
        return operations.health(service)

    @post("/purge-queue", status_code=200, sync_to_thread=False, opt={"admin": True},
          responses=errors(401, 403, 404, 415))
    def purge_queue(self, service: Service) -> V2Purged:
        """Cancel every pending job (running ones go on); needs ADMIN_API_KEY when it is set."""
        return operations.purge(service)


__all__ = ["RunPodController"]
