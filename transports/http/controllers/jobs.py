"""Jobs: submit (/run, /runsync), status, cancel, list, and raw output download."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from store import JobStatus, OutputFile
from transports.bodies import JobsPage, StatusBody, SubmitBody
from transports.http.clients import Caller
from transports.http.controllers.responses import errors
from transports.http.streaming import StreamedResponse
from transports.render import OutputsMode
from transports.requests import RunBody, validate_async
from transports.service import JobService
from transports.streaming import BodyStream

Service = NamedDependency[JobService]

Wait = Annotated[float, QueryParameter(ge=0, le=300, description="seconds to wait for the end (max 300)")]
Outputs = Annotated[OutputsMode, QueryParameter(description="base64: output bytes inline; none: skip them "
                                                       "(fetch /jobs/{job_id}/outputs/{index})")]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="jobs per page")]
Owner = Annotated[str | None, QueryParameter(max_length=64, description="admin keys: only this client's jobs")]
Who = NamedDependency[Caller]
Index = Annotated[int, PathParameter(ge=0, le=1_000_000, description="output_index of a result entry")]


async def _submit(connection: Request[Any, Any, Any], data: RunBody, service: JobService,
                  caller: Caller) -> SubmitBody:
    request = await validate_async(data, max_images=service.max_images, limits=service.limits,
                                   policy=service.policy.current())
    submitted = await service.submit_batched(request, caller.name, caller.limits.max_pending,
                                             caller.limits.max_priority)
    connection.state["job_id"] = submitted.job_id  # for the access log
    return submitted


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _status_response(body: StatusBody | BodyStream) -> Response[StatusBody]:
    if isinstance(body, BodyStream):
        return StreamedResponse(body, media_type="application/json")
    return Response(body)


class JobsController(Controller):
    tags = ["jobs"]

    @post("/run", status_code=200, responses=errors(400, 401, 403, 413, 415, 429, 507))
    async def run(self, request: Request[Any, Any, Any], data: JSONBody[RunBody], service: Service,
                  caller: Who) -> SubmitBody:
        """Queue a job; answered only once the job is committed to the store."""
        return await _submit(request, data, service, caller)

    @post("/runsync", status_code=200, responses=errors(400, 401, 403, 413, 415, 429, 507))
    async def runsync(self, request: Request[Any, Any, Any], data: JSONBody[RunBody], service: Service,
                      caller: Who, wait: Wait = 60) -> Response[StatusBody]:
        """Queue a job and wait up to ``wait`` seconds for it to end; the status body either way."""
        submitted = await _submit(request, data, service, caller)
        return _status_response(await service.respond(await service.wait(submitted.job_id, wait)))

    @get("/status/{job_id:str}", responses=errors(400, 401, 403, 404))
    async def status(self, job_id: FromPath[str], service: Service, caller: Who, outputs: Outputs = "base64",
                     wait: Wait = 0) -> Response[StatusBody]:
        """A job's state, result or error; ``progress`` while running, ``queue_position`` while pending.

        ``wait`` > 0 long-polls: the answer comes as soon as the job ends, or after ``wait`` seconds."""
        if wait:
            await service.wait(job_id, wait, caller.owner)
        return _status_response(await service.respond(job_id, outputs, caller.owner))

    @post("/cancel/{job_id:str}", status_code=200, sync_to_thread=False,
          responses=errors(401, 403, 404, 409, 415))
    def cancel(self, job_id: FromPath[str], service: Service, caller: Who) -> StatusBody:
        """Cancel a pending job at once, or ask the executor to interrupt a running one."""
        return service.cancel(job_id, caller.owner)

    @get("/jobs", sync_to_thread=False, responses=errors(400, 401, 403))
    def list_jobs(self, service: Service, caller: Who, status: FromQuery[JobStatus | None] = None,
                  limit: Limit = 50, cursor: FromQuery[str | None] = None, owner: Owner = None) -> JobsPage:
        """Jobs, newest first, a page at a time: the caller's own (an admin's: every job, or ``owner``'s)."""
        if owner is not None and not caller.admin:
            raise PermissionDeniedException("the owner filter needs an admin key")
        return service.list_jobs(status, limit, cursor, owner if caller.admin else caller.owner)

    @get("/jobs/{job_id:str}/outputs/{index:int}", media_type="application/octet-stream",
         responses=errors(401, 403, 404))
    async def output(self, job_id: FromPath[str], index: Index, service: Service, caller: Who) -> Response[bytes]:
        """The raw bytes of one stored output (``output_index`` in the result), with its content type.

        A large output is streamed from the store a chunk at a time."""
        out = await service.open_output(job_id, index, caller.owner)
        if isinstance(out, OutputFile):
            return Response(out.data, media_type=out.content_type,
                            headers={"Content-Disposition": _disposition(out.filename)})
        ref, stream = out
        return StreamedResponse(stream, media_type=ref.content_type,
                                headers={"Content-Disposition": _disposition(ref.filename)})
