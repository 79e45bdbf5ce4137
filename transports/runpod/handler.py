"""The RunPod handler: a RunPod job in, a store job written, followed to its end, worker-comfyui's output out.

It never talks to ComfyUI or the executor: it writes the job, watches its row, and cancels it in the store
when RunPod cancels the handler's task (``JobScaler.stop_job`` -> ``task.cancel()``); the executor then
interrupts it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from store import InvalidTransition, JobInfo, JobNotFound, JobStatus, StoreFull
from transports.errors import InvalidRequest
from transports.render import has_stored_outputs
from transports.requests import parse
from transports.runpod.progress import ProgressForwarder, ProgressSink
from transports.runpod.size import OutputLimit
from transports.service import JobService
from transports.worker_output import Output, invalid_input, job_failure, store_full


class Handler:
    """``await handler(job)`` for ``runpod.serverless.start({"handler": handler})``; one per process."""

    def __init__(self, service: JobService, limit: OutputLimit, log: Any, *,
                 send_progress: ProgressSink | None, refresh_worker: bool = False,
                 progress_interval_s: float = 0.5) -> None:
        self.service = service
        self.limit = limit
        self.log = log
        self.send_progress = send_progress
        self.refresh_worker = refresh_worker
        self.progress_interval_s = progress_interval_s

    async def __call__(self, rp_job: dict[str, Any]) -> dict[str, Any]:
        log = self.log.bind(runpod_job_id=rp_job.get("id"))
        try:
            request = parse({"input": rp_job.get("input")}, max_images=self.service.max_images,
                            limits=self.service.limits, policy=self.service.policy.current())
        except InvalidRequest as exc:
            log.info("runpod_job_rejected", detail=exc.detail)
            return self._with_refresh(invalid_input(exc))
        try:
            job_id = self.service.submit(request).job_id
        except StoreFull as exc:  # nothing written: the RunPod job fails with the reason, the worker lives on
            log.warning("runpod_job_refused", detail=str(exc))
            return self._with_refresh(store_full(exc))
        log = log.bind(job_id=job_id)
        log.info("runpod_job_submitted")
        try:
            job = await self._follow(job_id, ProgressForwarder(self.send_progress, rp_job, log))
            output = await self._output(job)
        except asyncio.CancelledError:
            self._cancel(job_id, log)
            raise
        log.info("runpod_job_finished", status=str(job.status), error=output.get("error"))
        return self._with_refresh(output)

    async def _follow(self, job_id: str, progress: ProgressForwarder) -> JobInfo:
        """Wait for the job's end, forwarding its progress; RunPod's execution timeout bounds the wait."""
        while True:
            job = await self.service.wait(job_id, self.progress_interval_s)
            if job.status.terminal:
                return job
            pending = job.status is JobStatus.PENDING
            position = self.service.store.pending_position(job_id) if pending else None
            progress.update(job, position)

    async def _output(self, job: JobInfo) -> dict[str, Any]:
        if job.status is not JobStatus.COMPLETED:
            return job_failure(job)
        stored = self.service.store.get_outputs(job.id) if has_stored_outputs(job.result) else []
        return await self.limit.output(job, stored)

    def _cancel(self, job_id: str, log: Any) -> None:
        """RunPod cancelled the request: pending -> cancelled, or running -> interrupted by its executor."""
        try:
            status = self.service.store.cancel(job_id)
        except (InvalidTransition, JobNotFound) as exc:  # it ended meanwhile: nothing to stop
            log.info("runpod_job_cancel_too_late", detail=str(exc))
            return
        except StoreFull as exc:  # the job runs to its end; RunPod has dropped the request already
            log.warning("runpod_job_cancel_failed", detail=str(exc))
            return
        log.info("runpod_job_cancelled", status=str(status))

    def _with_refresh(self, output: dict[str, Any]) -> Output:
        """REFRESH_WORKER: the SDK pops ``refresh_worker`` and asks RunPod to stop this pod (``stopPod``)."""
        return Output(output, refresh_worker=True) if self.refresh_worker else Output(output)
