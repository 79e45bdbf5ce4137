"""One watcher per process for every request waiting on a job (``/status?wait=``, ``/runsync``, RunPod).

The watcher checks ``PRAGMA data_version`` (it changes when another connection commits) whenever the store's
wake-up comes (``store.wakeup``: a datagram after each commit by another connection), and every
``poll_interval_s`` in case one was lost; after a change it reads the status of every waited job in one
query, then the ended ones (without the request column), and wakes their waiters (or those whose job
vanished). A waiter reads its job once when it starts and never decodes the workflow. The polling task runs
only while someone waits.

``notify()`` makes the watcher look at once: the service calls it after its own writes (commits on this
process's connection do not change ``data_version``). Nothing depends on a wake-up: without one a change is
seen within ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib

from config.logging import get_logger
from store import JobInfo, JobNotFound, Store
from store.wakeup import StoreWakeup, Wake, open_wakeup


class JobWatcher:
    """Owns no resource: the store it is given belongs to the event loop's thread."""

    def __init__(self, store: Store, *, poll_interval_s: float = 0.5, wakeup: bool = True) -> None:
        self.store = store
        self.poll_interval_s = poll_interval_s  # the safety net: a check at least this often while someone waits
        self.wakeup_enabled = wakeup
        self.wakeup: StoreWakeup | None = None  # opened for the loop of the first wait, kept until close()
        self._wakeup_loop: asyncio.AbstractEventLoop | None = None
        self.reads = 0  # batch reads of waited jobs so far (one per change seen)
        self._waiters: dict[str, set[asyncio.Future[JobInfo]]] = {}
        self._version = 0
        self._poked = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting now."""
        return sum(len(futures) for futures in self._waiters.values())

    def notify(self) -> None:
        """A commit may have happened that ``data_version`` does not show: read the waited jobs now."""
        self._poked = True
        if self._wake is not None:
            self._wake.set()

    async def wait(self, job_id: str, timeout_s: float) -> JobInfo:
        """The job once it ended, or as it is when ``timeout_s`` runs out. Raises JobNotFound."""
        version = self.store.data_version()  # before the read: a commit after it is a change to look at
        info = self.store.get_job_info(job_id)
        if info.status.terminal or timeout_s <= 0:
            return info
        future: asyncio.Future[JobInfo] = asyncio.get_running_loop().create_future()
        self._register(job_id, future, info, version)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            return self._now(job_id, info)
        finally:
            self._unregister(job_id, future)

    def _register(self, job_id: str, future: asyncio.Future[JobInfo], info: JobInfo, version: int) -> None:
        self._waiters.setdefault(job_id, set()).add(future)
        if self._task is None or self._task.done():
            self._open_wakeup()
            self._version, self._poked = version, False
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="job-watcher")

    def _open_wakeup(self) -> None:
        """Once per loop (a test may run several loops one after another in one process)."""
        loop = asyncio.get_running_loop()
        if self._wakeup_loop is loop:
            return
        if self.wakeup is not None:
            self.wakeup.close()
        self._wakeup_loop = loop
        self.wakeup = open_wakeup(self.store.poker, Wake.ENDS, self._on_commit, enabled=self.wakeup_enabled,
                                  log=get_logger())

    def _on_commit(self) -> None:
        """A commit somewhere: look now, in the wake-up's callback (no task switch per commit)."""
        if self._waiters and self._task is not None and not self._task.done():
            self._check()

    def _unregister(self, job_id: str, future: asyncio.Future[JobInfo]) -> None:
        futures = self._waiters.get(job_id)
        if futures is None:
            return
        futures.discard(future)
        if not futures:
            del self._waiters[job_id]
        if not self._waiters and self._wake is not None:
            self._wake.set()  # the task sees nobody waits and ends

    async def _run(self) -> None:
        assert self._wake is not None
        while self._waiters:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if self._waiters:
                self._check()

    def _check(self) -> None:
        """One ``data_version`` read; after a change, one read of the waited jobs' states and one of the ended."""
        try:
            version = self.store.data_version()
            if version == self._version and not self._poked:
                return
            self._version, self._poked = version, False
            self.reads += 1
            states = self.store.job_states(self._waiters)
            ended = [job_id for job_id, status in states.items() if status.terminal]
            infos = self.store.job_infos(ended) if ended else {}
        except Exception as exc:  # the store is unreadable: each waiter gets the error, the watcher goes on
            self._wake_all(exc)
            return
        for job_id, futures in list(self._waiters.items()):
            if job_id not in states:
                self._settle(futures, error=JobNotFound(f"no job {job_id}"))
            elif (info := infos.get(job_id)) is not None:
                self._settle(futures, info=info)

    def _now(self, job_id: str, before: JobInfo) -> JobInfo:
        """A waited job as it is now (its progress, say), or as it was if it can no longer be read."""
        try:
            return self.store.get_job_info(job_id)
        except Exception:  # deleted meanwhile, or the store unreadable: the caller reads it again anyway
            return before

    def _wake_all(self, error: Exception) -> None:
        for futures in self._waiters.values():
            self._settle(futures, error=error)

    @staticmethod
    def _settle(futures: set[asyncio.Future[JobInfo]], *, info: JobInfo | None = None,
                error: Exception | None = None) -> None:
        for future in futures:
            if future.done():
                continue
            if info is not None:
                future.set_result(info)
            else:
                future.set_exception(error or RuntimeError("no result"))

    async def close(self) -> None:
        """Stop the task (the process is shutting down); waiters still waiting time out as usual."""
        if self.wakeup is not None:
            self.wakeup.close()
            self.wakeup, self._wakeup_loop = None, None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
