"""One job on RunPod, from its claim to its end: sent once (its id written before anything depends on it),
followed by polling its status, cancelled there when the local job is cancelled or runs past its deadline, and
ended in the store exactly as a local run ends it."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from typing import Any

import msgspec

from executor.remote import translate as t
from executor.remote.api import Gone, MaybeSent, NotSent, Rejected, RemoteError, RunPodApi, TooLarge
from store import InvalidTransition, Job, JobNotFound, Store, StoreFull

DEADLINE_GRACE_S = 5.0  # past its deadline plus this, a job RunPod has not ended is cancelled there and failed
# status polls start this soon and double up to RUNPOD_OVERFLOW_POLL_S: a short job's end is seen within a few
# tens of ms (not a whole poll interval), a long job costs a handful of extra requests
FIRST_POLL_S = 0.02


class Runtime(msgspec.Struct, kw_only=True):
    """What every remote job of a forwarder shares."""

    store: Store
    api: RunPodApi
    worker_id: str
    poll_s: float
    default_timeout_s: float
    log: Any
    stopping: bool = False
    refused_at: float | None = None  # monotonic time RunPod last refused a POST run (claims pause)


class Stage(enum.Enum):
    SUBMITTING = "submitting"  # claimed, not sent yet (or being sent)
    FOLLOWING = "following"  # on RunPod under a known id
    DONE = "done"


class RemoteJob:
    def __init__(self, job: Job, rt: Runtime) -> None:
        self.job, self.rt = job, rt
        self.timeout_s = job.timeout_s or rt.default_timeout_s
        self.started = job.started_at or time.time()  # the claim (its first one, for a resumed job)
        self.stage = Stage.SUBMITTING
        self.cancel_wanted = job.cancel_requested
        self.stop_wanted = False
        self.cancel_sent = False
        self.sent = False  # mark_remote_sent committed: from then on the job may be on RunPod
        self.poked = asyncio.Event()
        self.log = rt.log.bind(job_id=job.id)

    def lease(self, cancel: bool, stop: bool) -> None:
        """What the heartbeat said: a client cancelled it, or the stuck-job reset wants it stopped."""
        if (cancel and not self.cancel_wanted) or (stop and not self.stop_wanted):
            self.cancel_wanted |= cancel
            self.stop_wanted |= stop
            self.poked.set()

    async def run(self) -> None:
        try:
            remote_id = await self._remote_id()
            if remote_id is not None:
                self.stage = Stage.FOLLOWING
                await self._follow(remote_id)
        except (InvalidTransition, JobNotFound) as exc:  # no longer ours (recovered meanwhile): leave it
            self.log.warning("remote_job_lost", error=str(exc))
        except StoreFull as exc:  # its heartbeat stops with this task: recovered when stale, resumed by its id
            self.log.error("remote_job_store_full", error=str(exc))
        finally:
            self.stage = Stage.DONE

    # --- sending -------------------------------------------------------------------------------------------

    async def _remote_id(self) -> str | None:
        """RunPod's id: the one stored (a forwarder that died sent it), else a new one from POST run."""
        store, job = self.rt.store, self.job
        ref = store.remote_of(job.id)
        if ref is not None and ref.remote_id:
            self.sent = True
            self.log.info("remote_job_resumed", remote_id=ref.remote_id)
            return ref.remote_id
        if ref is not None and ref.sent_at is not None:  # POST run went out, its answer was never stored
            self.sent = True
            self._end("requeue", error={"type": "comfyui_unavailable", "message": (
                "the forwarder stopped while sending this job to RunPod: it is never sent there again, and runs "
                "locally instead")})
            self.log.warning("remote_submit_unknown", reason="forwarder_restarted")
            return None
        if self.cancel_wanted:
            self._end("finish_cancelled")
            return None
        body = t.request_body(job, store.get_inputs(job.id), self.timeout_s)
        store.mark_remote_sent(job.id, self.rt.worker_id)  # committed before the request goes out
        self.sent = True
        try:
            remote_id = await self.rt.api.run(body)
        except NotSent as exc:
            self.rt.refused_at = time.monotonic()
            store.forget_remote(job.id, self.rt.worker_id)
            self._end("requeue", error={"type": "comfyui_unavailable", "message": f"RunPod: {exc}"})
            self.log.warning("remote_submit_refused", error=str(exc), status=exc.status)
            return None
        except Rejected as exc:
            self._end("fail", error={"type": "invalid_input", "message": f"RunPod refused the input: {exc}"})
            return None
        except MaybeSent as exc:  # never sent again: a local executor may run it
            self.rt.refused_at = time.monotonic()
            self._end("requeue", error={"type": "comfyui_unavailable", "message": (
                f"RunPod may have received this job without its id reaching us ({exc}): it is never sent there "
                "again")})
            self.log.warning("remote_submit_unknown", error=str(exc), status=exc.status)
            return None
        try:
            store.set_remote_id(job.id, self.rt.worker_id, remote_id)
        except Exception:
            await self._cancel_quietly(remote_id)  # nobody could follow it
            raise
        self.log.info("remote_job_sent", remote_id=remote_id, timeout_s=self.timeout_s)
        return remote_id

    # --- following -----------------------------------------------------------------------------------------

    async def _follow(self, remote_id: str) -> None:
        wait_s = FIRST_POLL_S
        while True:
            await self._cancel_if_wanted(remote_id)
            try:
                body = await self.rt.api.status(remote_id)
            except Gone as exc:
                self.rt.store.forget_remote(self.job.id, self.rt.worker_id)
                self._end("requeue", error={"type": "comfyui_unavailable", "message": str(exc)})
                return
            except TooLarge as exc:  # read again, it would be as large: the job fails (not retried)
                self._end("fail", error={"type": "comfyui_bad_response", "message": f"RunPod: {exc}"})
                return
            except RemoteError as exc:
                self.log.warning("remote_status_failed", remote_id=remote_id, error=str(exc))
                body = None
            if body is not None and self._finished(remote_id, body):
                return
            if self.rt.stopping:  # left running here and on RunPod: the next forwarder resumes it by its id
                self.log.info("remote_job_left", remote_id=remote_id)
                return
            self.poked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poked.wait(), min(wait_s, self.rt.poll_s))
            wait_s *= 2

    def _overdue(self) -> bool:
        return time.time() - self.started > self.timeout_s + DEADLINE_GRACE_S

    async def _cancel_if_wanted(self, remote_id: str) -> None:
        if self.cancel_sent or not (self.cancel_wanted or self.stop_wanted or self._overdue()):
            return
        try:
            await self.rt.api.cancel(remote_id)
            self.cancel_sent = True
            self.log.info("remote_job_cancel_sent", remote_id=remote_id, cancel=self.cancel_wanted,
                          stop=self.stop_wanted)
        except RemoteError as exc:
            self.log.warning("remote_cancel_failed", remote_id=remote_id, error=str(exc))

    async def _cancel_quietly(self, remote_id: str) -> None:
        try:
            await self.rt.api.cancel(remote_id)
        except RemoteError as exc:
            self.log.warning("remote_cancel_failed", remote_id=remote_id, error=str(exc))

    def _finished(self, remote_id: str, body: dict[str, Any]) -> bool:
        """End the job when RunPod's status is final; record progress while it runs."""
        try:
            status = t.remote_status(body)
            if status is t.Remote.COMPLETED:
                done = t.completed(body.get("output"))
                self._end("complete", result=done.result, outputs=done.outputs)
            elif status is t.Remote.FAILED:
                self._failed(t.failure(body))
            elif status is t.Remote.TIMED_OUT:
                self._end("fail", error=t.timed_out(body, self.timeout_s))
            elif status is t.Remote.CANCELLED:
                self._cancelled()
            else:
                if (p := t.progress(body)) is not None:
                    self.rt.store.record_progress(self.job.id, self.rt.worker_id, p)
                return False
        except t.BadAnswer as exc:
            self._end("fail", error={"type": "comfyui_bad_response", "message": f"RunPod: {exc}"})
        self.log.info("remote_job_ended", remote_id=remote_id, remote_status=str(body.get("status"))[:20])
        return True

    def _failed(self, error: dict[str, Any]) -> None:
        if error.get("type") in t.RETRIED:  # as a local run: retried while attempts remain, sent afresh
            self.rt.store.forget_remote(self.job.id, self.rt.worker_id)
            self._end("requeue", error=error)
        else:
            self._end("fail", error=error)

    def _cancelled(self) -> None:
        """Cancelled on RunPod: by us (the client's cancel, the deadline, the stuck-job reset) or by someone there."""
        if self.cancel_wanted:
            self._end("finish_cancelled")
        elif self.stop_wanted:
            self._end("fail", error={"type": "timeout", "message": "job ran longer than the stuck-job limit "
                                     "(reset-stuck) and was interrupted", "timeout_s": self.timeout_s,
                                     "stopped_by": "reset_stuck"})
        elif self.cancel_sent:  # our deadline
            self._end("fail", error={"type": "timeout", "message": f"job ran longer than its deadline of "
                                     f"{self.timeout_s:g} s and was interrupted", "timeout_s": self.timeout_s})
        else:
            self.rt.store.forget_remote(self.job.id, self.rt.worker_id)
            self._end("requeue", error={"type": "comfyui_unavailable", "message": "the job was cancelled on RunPod"})

    # --- the store -----------------------------------------------------------------------------------------

    def _end(self, how: str, **fields: Any) -> None:
        """A terminal write (or a requeue). A full store raises StoreFull: ``run`` then leaves the job running
        without a heartbeat, so it goes stale and is requeued with its remote id, and resumed from RunPod later."""
        getattr(self.rt.store, how)(self.job.id, self.rt.worker_id, **fields)
