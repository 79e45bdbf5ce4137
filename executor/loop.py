"""The executor: claim -> run -> finish, keeping ComfyUI's queue fed, until asked to stop.

One event loop, one thread: the store, the websocket's events and every job's task all run here. Up to
``pipeline_depth`` jobs are claimed at once, so job N+1 already waits in ComfyUI's queue while job N runs,
and N's outputs are stored while N+1 runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable

import apsw

from config import lean
from config.logging import get_logger
from config.settings import Settings
from executor import node_catalog
from executor import protocol as p
from executor.comfy_client import ComfyClient
from executor.errors import BadResponse, ComfyUnavailable
from executor.job import JobRun
from executor.references import Fetcher
from executor.runtime import Runtime
from executor.socket import ComfySocket, Connected, Lost, SocketEvent
from executor.storage import OutputSink, make_sink
from executor.tracker import PromptState
from executor.warmup_runner import WarmupRunner
from executor.watchdog import EXIT_RESTART, Watchdog
from store import Job, Store, StoreFull
from store.disk import DiskState
from store.policy import NodeLists, WorkflowPolicy
from store.wakeup import StoreWakeup, Wake, open_wakeup

EXIT_OK = 0
EXIT_REFRESH = 3  # REFRESH_WORKER: ask the supervisor for a fresh ComfyUI (docs/internals.md)
DISK_CHECK_S = 0.5  # while the store has room, look at it at most this often before a claim
FULL_PAUSE_S = 1.0  # a claim that met a full disk: no claim for this long


class State(enum.Enum):
    STARTING = "starting"  # waiting for GET /system_stats
    RUNNING = "running"  # claiming and running jobs
    DRAINING = "draining"  # stop asked: no more claims, running jobs get SHUTDOWN_GRACE_S
    STOPPED = "stopped"


_EDGES = {
    State.STARTING: {State.RUNNING, State.DRAINING},  # starting -> running | draining
    State.RUNNING: {State.DRAINING},  # running -> draining
    State.DRAINING: {State.STOPPED},  # draining -> stopped
    State.STOPPED: set(),
}


class Executor:
    def __init__(self, settings: Settings, store: Store, *, comfyui_url: str, worker_id: str, client_id: str,
                 sink: OutputSink | None = None, clock: Callable[[], float] = time.monotonic,
                 comfyui_component: str | None = None, instance: int = 0) -> None:
        self.settings, self.store, self.clock, self.instance = settings, store, clock, instance
        self.comfyui_url = comfyui_url.rstrip("/")
        self.client = ComfyClient(self.comfyui_url)
        self.depth = 1 if settings.refresh_worker else settings.pipeline_depth
        self.rt = Runtime(settings=settings, store=store, client=self.client,
                          sink=sink or make_sink(settings), worker_id=worker_id, client_id=client_id,
                          routes={}, on_unavailable=self._unavailable, fetcher=Fetcher(settings),
                          policy=WorkflowPolicy(lists=NodeLists.parse(settings.node_denylist,
                                                                      settings.node_allowlist)),
                          on_stuck=self.request_restart, on_out_of_memory=self._out_of_memory)
        ws_url = self.comfyui_url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"
        self.socket = ComfySocket(ws_url, self._on_event, attempts=settings.websocket_reconnect_attempts,
                                  delay_s=settings.websocket_reconnect_delay_s,
                                  trace=settings.websocket_trace)
        self.state = State.STARTING
        self.active: list[JobRun] = []
        self.finished_jobs = 0
        self.exit_code = EXIT_OK
        self.comfy_ok = asyncio.Event()  # ComfyUI answers and the websocket is connected
        self.wake = asyncio.Event()  # set by our own events and by the store's wake-up (a commit anywhere)
        self.wakeup: StoreWakeup | None = None
        self.claim_version: int | None = None  # store data_version when a claim last found nothing
        self.store_full = False  # no claims while the store has no room: their outputs could not be written
        self.disk_checked_at = -DISK_CHECK_S
        self.paused_until = 0.0
        self.background: list[asyncio.Task[None]] = []
        self.log = get_logger(worker_id=worker_id)
        self.watchdog = Watchdog(settings, store, self.client, self.log, comfyui_component)
        self.restart_reason: str | None = None  # the watchdog asked for a fresh ComfyUI (exit EXIT_RESTART)
        self.drain_unlimited = False  # a memory restart waits for the running job, however long it takes
        self.memory_check: asyncio.Task[None] | None = None
        self.warmup = WarmupRunner(settings, store, self.client, instance=instance, worker_id=worker_id,
                                   client_id=client_id, probe=self._probe_until_ready, log=self.log)

    def _move(self, new: State) -> bool:
        if new not in _EDGES[self.state]:
            return False
        self.log.info("executor_state", state=new.value, previous=self.state.value)
        self.state = new
        self.wake.set()
        return True

    def stop(self) -> None:
        """Stop claiming and drain (a signal handler calls this; the loop acts on it)."""
        self.drain_unlimited = False  # a SIGTERM bounds even a memory drain by SHUTDOWN_GRACE_S
        self._move(State.DRAINING)
        self.wake.set()

    def request_restart(self, reason: str, *, wait_for_jobs: bool = False, **detail: object) -> None:
        """The watchdog: end or release every job, then exit EXIT_RESTART so the supervisor restarts ComfyUI.
        ``wait_for_jobs`` (memory): the running job finishes first, however long; else SHUTDOWN_GRACE_S."""
        if self.restart_reason is not None or self.state not in (State.STARTING, State.RUNNING):
            return
        self.restart_reason = reason
        self.log.warning("comfyui_restart_requested", reason=reason, jobs=[r.job.id for r in self.active],
                         **detail)
        self.watchdog.record(reason, **detail)
        self.exit_code = EXIT_RESTART
        self._move(State.DRAINING)
        self.drain_unlimited = wait_for_jobs

    def _out_of_memory(self, detail: dict[str, object]) -> None:
        self.watchdog.record("oom_retry", **detail)

    # --- main loop ----------------------------------------------------------------------------------------

    async def run(self) -> int:
        self.wakeup = open_wakeup(self.store.poker, Wake.JOBS, self.wake.set, enabled=self.settings.store_wakeup,
                                  log=self.log)
        tasks = [asyncio.create_task(self._wait_ready_then_connect(), name="connect")]
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            tasks += self.background + ([self.memory_check] if self.memory_check else [])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.client.close()
            if self.wakeup is not None:
                self.wakeup.close()
            self._move(State.STOPPED)
        return self.exit_code

    async def _wait_ready_then_connect(self) -> None:
        await self._probe_until_ready()
        await self._discard_orphans()
        await self._read_catalog()
        await self.warmup.ensure()  # before the first claim: claims wait for RUNNING
        lean.trim()  # start-up garbage (modules compiled, /object_info parsed) given back before the first job
        self._move(State.RUNNING)
        self.background += [asyncio.create_task(self.socket.run(), name="socket"),
                            asyncio.create_task(self._heartbeat_loop(), name="heartbeat")]

    async def _probe_until_ready(self) -> None:
        while True:
            try:
                await self.client.system_stats()
                self.log.info("comfyui_ready", url=self.comfyui_url)
                return
            except ComfyUnavailable as exc:
                self.log.debug("comfyui_not_ready", reason=exc.message)
            except BadResponse as exc:  # not ComfyUI's answer: say so, and keep probing
                self.log.warning("comfyui_not_ready", reason=exc.message)
            await asyncio.sleep(self.settings.comfyui_probe_interval_s)

    async def _read_catalog(self) -> None:
        """The node classes of our ComfyUI (re-read after it came back: custom nodes may have changed), for
        this executor's checks and, through the store, the transport's. Unreadable: the fallback applies."""
        try:
            catalog = await node_catalog.read(self.client)
        except (ComfyUnavailable, ValueError) as exc:
            self.log.warning("node_catalog_unavailable", reason=str(exc))
            return
        self.rt.policy = WorkflowPolicy(lists=self.rt.policy.lists, catalog=catalog)
        try:
            changed = self.store.put_node_catalog(catalog)
        except apsw.Error as exc:  # the transports keep their copy; ours is already in use
            self.log.warning("node_catalog_not_stored", reason=f"{type(exc).__name__}: {exc}")
            return
        self.log.info("node_catalog_read", node_types=len(catalog.file_inputs), stored=changed)

    async def _discard_orphans(self) -> None:
        """Remove what a crashed predecessor (same worker, so same client id) left in ComfyUI: the store has
        already requeued those jobs, so their old prompts would only burn GPU time."""
        try:
            queue = await self.client.queue()
            mine = {pid for pid, cid in queue.client_ids.items() if cid == self.rt.client_id}
            if pending := [pid for pid in queue.pending if pid in mine]:
                await self.client.delete_queued(pending)
            for pid in (pid for pid in queue.running if pid in mine):
                await self.client.interrupt(pid)
        except (ComfyUnavailable, BadResponse) as exc:  # the jobs are safe in the store either way
            self.log.warning("orphan_check_failed", reason=exc.message)
            return
        if mine:
            self.log.warning("orphan_prompts_discarded", prompt_ids=sorted(mine))

    async def _claim_loop(self) -> None:
        """Claim whenever woken (a commit anywhere, a job of ours ended, ComfyUI came back), and at least every
        POLL_INTERVAL_S in case a wake-up was lost."""
        while self.state in (State.STARTING, State.RUNNING):
            self.wake.clear()
            if self._may_claim() and (job := self._claim()) is not None:
                self._start(job)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.poll_interval_s)

    def _claim(self) -> Job | None:
        """The next job, or None. An empty queue is remembered by the store's data_version read *before* the
        claim (a job committed meanwhile moves it); a database locked past the busy timeout is retried at the
        next poll, not a crash."""
        version = self.store.data_version()
        try:
            job = self.store.claim(self.rt.worker_id)
        except apsw.BusyError:
            self.log.warning("claim_deferred", reason="database locked")
            return None
        except StoreFull as exc:
            self._pause_claims(str(exc))
            self.paused_until = self.clock() + FULL_PAUSE_S
            return None
        if job is None:
            self.claim_version = version
        return job

    def _may_claim(self) -> bool:
        if self.state is not State.RUNNING or not self.comfy_ok.is_set() or not self._store_has_room():
            return False
        if self.warmup.path and not self.socket.connected.is_set():  # ComfyUI may be restarting: cold
            return False
        if len(self.active) >= self.depth or (self.settings.refresh_worker and self.finished_jobs):
            return False
        return self.claim_version is None or self.store.data_version() != self.claim_version

    def _store_has_room(self) -> bool:
        """False while the store is full (checked every poll then, every DISK_CHECK_S otherwise)."""
        now = self.clock()
        if not self.store_full and now - self.disk_checked_at < DISK_CHECK_S:
            return True
        if now < self.paused_until:
            return False
        self.disk_checked_at = now
        if self.store.disk_state() is DiskState.FULL:
            self._pause_claims("the job store is full")
            return False
        if self.store_full:
            self.store_full = False
            self.log.info("claims_resumed", reason="the job store has room again")
        return True

    def _pause_claims(self, reason: str) -> None:
        if not self.store_full:
            self.store_full = True
            self.log.warning("claims_paused", reason=reason)

    def _start(self, job: Job) -> None:
        run = JobRun(self.rt, job, self.active[-1] if self.active else None)
        self.active.append(run)
        run.log.info("job_claimed", attempt=job.attempts, max_attempts=job.max_attempts)
        run.task = asyncio.create_task(run.run(), name=f"job-{job.id}")
        run.task.add_done_callback(lambda _t: self._done(run))

    def _done(self, run: JobRun) -> None:
        self.active.remove(run)
        self.claim_version = None  # our own commits do not move data_version: look again
        if run.outcome in {"completed", "failed", "cancelled"}:
            self.finished_jobs += 1
            if self.settings.refresh_worker and self.restart_reason is None:
                self.exit_code = EXIT_REFRESH
                self.stop()
            elif self.watchdog.limits_set and self.state is State.RUNNING and self.memory_check is None:
                self.memory_check = asyncio.create_task(self._check_memory(), name="memory")
        self.wake.set()

    async def _check_memory(self) -> None:
        """After a job: a ComfyUI over its memory limits drains and restarts between two jobs."""
        try:
            if (detail := await self.watchdog.check_memory()) is not None:
                self.request_restart("memory_restart", wait_for_jobs=True, **detail)
        except Exception as exc:  # never let a measurement take the executor down
            self.log.warning("memory_check_failed", reason=f"{type(exc).__name__}: {exc}")
        finally:
            self.memory_check = None

    async def _drain(self) -> None:
        """Release at once the jobs ComfyUI has not started (their prompts leave its queue), let the running
        one finish within SHUTDOWN_GRACE_S, then release the rest (no attempt spent)."""
        waiting = [run for run in self.active if not run.started_in_comfyui]
        for run in waiting:
            run.release_requested = True
            if run.task:
                run.task.cancel()
        await asyncio.gather(*(r.task for r in waiting if r.task), return_exceptions=True)
        if self.active:
            self.log.info("executor_draining", jobs=len(self.active), grace_s=self.settings.shutdown_grace_s,
                          until_done=self.drain_unlimited)
            deadline = self.clock() + self.settings.shutdown_grace_s
            while self.active and (self.drain_unlimited or self.clock() < deadline):
                self.wake.clear()
                timeout = None if self.drain_unlimited else max(0.0, deadline - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=timeout)
        leftover = list(self.active)
        for run in leftover:
            run.release_requested = True
            if run.task:
                run.task.cancel()
        await asyncio.gather(*(r.task for r in leftover if r.task), return_exceptions=True)

    # --- ComfyUI's availability, the websocket, heartbeats ------------------------------------------------

    def _unavailable(self) -> None:
        """A job met an unreachable ComfyUI: claim nothing until it answers again."""
        if self.comfy_ok.is_set():
            self.comfy_ok.clear()
            self.log.warning("comfyui_unavailable")
            # kept in `background`: the loop holds tasks weakly, and run() cancels these on the way out
            self.background.append(asyncio.create_task(self._recover_availability(), name="recover"))

    async def _recover_availability(self) -> None:
        """Wait for ComfyUI to answer again; one that stays silent for INTERRUPT_GRACE_S while it held jobs of
        ours is restarted (the watchdog): those jobs are requeued (released if they had not started)."""
        if not self.active:
            await self._probe_until_ready()
        else:
            try:
                await asyncio.wait_for(self._probe_until_ready(), timeout=self.settings.interrupt_grace_s)
            except TimeoutError:
                self.request_restart("comfyui_unresponsive", grace_s=self.settings.interrupt_grace_s)
                return
        await self._read_catalog()
        await self.warmup.ensure()  # it may have restarted: its models are gone
        await self.socket.connected.wait()
        self.comfy_ok.set()
        self.wake.set()

    async def _warm_then_claim(self, resume: bool) -> None:
        await self.warmup.ensure()
        if resume:
            self.comfy_ok.set()
            self.wake.set()

    def _on_event(self, event: SocketEvent) -> None:
        if isinstance(event, Connected):
            if self.warmup.path and (event.reconnect or event.failures):  # ComfyUI may have restarted: warm?
                resume = self.comfy_ok.is_set() or not event.reconnect  # else _recover_availability resumes
                self.comfy_ok.clear()
                self.background.append(asyncio.create_task(self._warm_then_claim(resume), name="warm"))
            elif not event.reconnect:
                self.comfy_ok.set()
                self.wake.set()
            for run in self.active:
                if run.tracker and event.reconnect:
                    run.tracker.poke(reconcile=True)  # frames may have been lost in the gap (trace 33)
        elif isinstance(event, Lost):
            for run in self.active:
                if run.tracker:
                    run.tracker.move(PromptState.VANISHED, f"websocket lost: {event.reason}")
            self._unavailable()
        else:
            self._route(event)

    def _route(self, event: p.Event) -> None:
        prompt_id = getattr(event, "prompt_id", None)
        if prompt_id is not None:
            run = self.rt.routes.get(prompt_id)
            targets = [run] if run else []
        elif isinstance(event, p.Executing) and event.node is not None:  # after a reconnect: no prompt_id
            targets = [r for r in self.active if r.tracker and r.tracker.state is PromptState.RUNNING]
        else:
            return
        for run in targets:
            if run.tracker:
                run.tracker.on_event(event)
                run.write_progress(self.settings.progress_throttle_s)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            try:
                self.heartbeat()
            except Exception as exc:  # e.g. the database locked past the busy timeout: the next beat retries
                self.log.warning("heartbeat_failed", reason=f"{type(exc).__name__}: {exc}")

    def heartbeat(self) -> None:
        """Renew the lease of the jobs this executor runs (no other); a cancel or a stop (reset-stuck) asked for
        reaches the job here."""
        leases = self.store.heartbeat(self.rt.worker_id, [run.job.id for run in self.active])
        for run in list(self.active):
            lease = leases.get(run.job.id)
            if lease and lease.cancel_requested:
                run.request_cancel()
            if lease and lease.stop_requested:
                run.request_stop()
            run.write_progress(self.settings.progress_throttle_s, force=True)
