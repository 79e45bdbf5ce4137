"""Jobs: submit (/run, /runsync), status, cancel, list, and raw output download."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter, QueryParameter

from store import JobStatus, OutputFile
from transports.bodies import JobsPage, StatusBody, SubmitBody
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
Index = Annotated[int, PathParameter(ge=0, le=1_000_000, description="output_index of a result entry")]


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
    async def run(self, data: JSONBody[RunBody], service: Service) -> SubmitBody:
        """Queue a job; answered only once the job is committed to the store."""
        request = await validate_async(data, max_images=service.max_images, limits=service.limits,
                                       policy=service.policy.current())
        return await service.submit_batched(request)

    @post("/runsync", status_code=200, responses=errors(400, 401, 403, 413, 415, 429, 507))
    async def runsync(self, data: JSONBody[RunBody], service: Service, wait: Wait = 60) -> Response[StatusBody]:
        """Queue a job and wait up to ``wait`` seconds for it to end; the status body either way."""
        request = await validate_async(data, max_images=service.max_images, limits=service.limits,
                                       policy=service.policy.current())
        submitted = await service.submit_batched(request)
        return _status_response(await service.respond(await service.wait(submitted.job_id, wait)))

    @get("/status/{job_id:str}", responses=errors(400, 401, 403, 404))
    async def status(self, job_id: FromPath[str], service: Service, outputs: Outputs = "base64",
                     wait: Wait = 0) -> Response[StatusBody]:
        """A job's state, result or error; ``progress`` while running, ``queue_position`` while pending.

        ``wait`` > 0 long-polls: the answer comes as soon as the job ends, or after ``wait`` seconds."""
        if wait:
            await service.wait(job_id, wait)
        return _status_response(await service.respond(job_id, outputs))

    @post("/cancel/{job_id:str}", status_code=200, sync_to_thread=False,
          responses=errors(401, 403, 404, 409, 415))
    def cancel(self, job_id: FromPath[str], service: Service) -> StatusBody:
        """Cancel a pending job at once, or ask the executor to interrupt a running one."""
        return service.cancel(job_id)

    @get("/jobs", sync_to_thread=False, responses=errors(400, 401, 403))
    def list_jobs(self, service: Service, status: FromQuery[JobStatus | None] = None, limit: Limit = 50,
                  cursor: FromQuery[str | None] = None) -> JobsPage:
        """Jobs, newest first, a page at a time."""
        return service.list_jobs(status, limit, cursor)

    @get("/jobs/{job_id:str}/outputs/{index:int}", media_type="application/octet-stream",
         responses=errors(401, 403, 404))
    async def output(self, job_id: FromPath[str], index: Index, service: Service) -> Response[bytes]:
        """The raw bytes of one stored output (``output_index`` in the result), with its content type.

        A large output is streamed from the store a chunk at a time."""
        out = await service.open_output(job_id, index)
        if isinstance(out, OutputFile):
            return Response(out.data, media_type=out.content_type,
                            headers={"Content-Disposition": _disposition(out.filename)})
        ref, stream = out
        return StreamedResponse(stream, media_type=ref.content_type,
                                headers={"Content-Disposition": _disposition(ref.filename)})
