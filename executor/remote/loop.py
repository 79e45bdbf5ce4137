"""The forwarder's loop: resume its own running jobs (a crash left them), then claim what the overflow policy
lets it take while it runs fewer than RUNPOD_OVERFLOW_MAX_JOBS, heartbeat them all, until asked to stop.

One event loop, one thread, one Store, like the executor. On stop, a job not yet sent is released (no attempt
spent); a job on RunPod is left running under this worker id, and the next forwarder resumes it by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from config.settings import Settings
from executor.remote.api import RunPodApi
from executor.remote.remote_job import RemoteJob, Runtime
from store import InvalidTransition, JobNotFound, Store, StoreFull
from store.wakeup import StoreWakeup, Wake, open_wakeup

REFUSED_PAUSE_S = 10.0  # after RunPod refused a POST run (or its outcome is unknown), no claim for this long


class Forwarder:
    def __init__(self, settings: Settings, store: Store, api: RunPodApi, *, worker_id: str, log: object) -> None:
        self.settings, self.store = settings, store
        self.rt = Runtime(store=store, api=api, worker_id=worker_id, poll_s=settings.runpod_overflow_poll_s,
                          default_timeout_s=settings.job_timeout_s, log=log)
        self.log = self.rt.log
        self.jobs: dict[str, tuple[RemoteJob, asyncio.Task[None]]] = {}
        self.wake = asyncio.Event()
        self.wakeup: StoreWakeup | None = None

    def stop(self) -> None:
        """A signal handler calls this: no more claims; the loop acts on it."""
        self.rt.stopping = True
        self.wake.set()
        for job, _ in self.jobs.values():
            job.poked.set()

    async def run(self) -> int:
        self.wakeup = open_wakeup(self.store.poker, Wake.JOBS, self.wake.set, enabled=self.settings.store_wakeup,
                                  log=self.log)
        try:
            self._resume()
            next_beat = time.monotonic()
            while not self.rt.stopping:
                self._reap()
                if time.monotonic() >= next_beat:
                    self._heartbeat()
                    next_beat = time.monotonic() + self.settings.heartbeat_interval_s
                claimed = self._claim_some()
                self.wake.clear()
                if not claimed and await self._woken(next_beat):
                    # RUNPOD_OVERFLOW_LOCAL_FIRST_S: an idle executor, woken by the same submit, claims it first;
                    # the policy only ever sees the jobs no local executor had room for
                    await asyncio.sleep(self.settings.runpod_overflow_local_first_s * 1.05)
            await self._drain()
        finally:
            if self.wakeup is not None:
                self.wakeup.close()
            await self.rt.api.close()
        return 0

    async def _woken(self, next_beat: float) -> bool:
        """Wait for a commit that may bring a job (True), or until the next heartbeat or poll (False)."""
        try:
            await asyncio.wait_for(self.wake.wait(), self._wait_s(next_beat))
        except TimeoutError:
            return False
        return not self.rt.stopping

    def _wait_s(self, next_beat: float) -> float:
        # the age policy is a matter of time: look again as often as a poll
        return max(0.0, min(next_beat - time.monotonic(), self.settings.poll_interval_s,
                            self.settings.runpod_overflow_poll_s))

    def _start(self, job: RemoteJob) -> None:
        self.jobs[job.job.id] = (job, asyncio.create_task(job.run(), name=f"remote-{job.job.id}"))

    def _resume(self) -> None:
        """The jobs a forwarder of this worker id left running (killed, or stopped): followed again."""
        for job_id in self.store.running_of(self.rt.worker_id):
            with contextlib.suppress(JobNotFound):
                self._start(RemoteJob(self.store.get_job(job_id), self.rt))
        if self.jobs:
            self.log.info("remote_jobs_resumed", jobs=list(self.jobs))

    def _claim_some(self) -> bool:
        if self.rt.refused_at is not None and time.monotonic() - self.rt.refused_at < REFUSED_PAUSE_S:
            return False
        s, claimed = self.settings, False
        while len(self.jobs) < s.runpod_overflow_max_jobs and not self.rt.stopping:
            try:
                job = self.store.claim_remote(self.rt.worker_id, queue_depth=s.runpod_overflow_queue_depth,
                                              wait_s=s.runpod_overflow_wait_s, fresh_s=s.runpod_overflow_local_first_s)
            except StoreFull:
                return claimed
            if job is None:
                return claimed
            self.log.info("job_claimed", job_id=job.id, attempt=job.attempts, ran_on="runpod")
            self._start(RemoteJob(job, self.rt))
            claimed = True
        return claimed

    def _heartbeat(self) -> None:
        if not self.jobs:
            return
        try:
            leases = self.store.heartbeat(self.rt.worker_id, list(self.jobs))
        except StoreFull:
            return
        for job_id, lease in leases.items():
            if job_id in self.jobs:
                self.jobs[job_id][0].lease(lease.cancel_requested, lease.stop_requested)

    def _reap(self) -> None:
        for job_id, (_, task) in list(self.jobs.items()):
            if task.done():
                del self.jobs[job_id]
                if not task.cancelled() and (exc := task.exception()) is not None:
                    self.log.error("remote_job_crashed", job_id=job_id, error=repr(exc))

    async def _drain(self) -> None:
        """Stop: jobs being sent finish sending (their id must reach the store), then every task returns;
        a claimed job that was never sent goes back to pending."""
        for job, task in list(self.jobs.values()):
            if not job.sent and not task.done():  # not started: nothing went to RunPod
                task.cancel()
                with contextlib.suppress(InvalidTransition, JobNotFound, StoreFull):
                    self.store.release(job.job.id, self.rt.worker_id)
        await asyncio.gather(*(task for _, task in self.jobs.values()), return_exceptions=True)
        self.log.info("forwarder_drained", left_on_runpod=[j for j, (job, _) in self.jobs.items() if job.sent])
