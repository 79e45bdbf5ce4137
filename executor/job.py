"""One claimed job, from its inputs to its terminal state in the store: prepare -> submit -> follow -> finish.

Runs as one asyncio task per job, on the executor's event loop (the only thread that touches the store).
Jobs of one executor submit in claim order, and those whose prompt ran write their terminal state in that
order too (``predecessor``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog

from config.logging import get_logger
from executor import inputs, outputs, reconcile, references
from executor.destinations import deliver
from executor.errors import (
    BadResponse,
    ComfySilent,
    ComfyUnavailable,
    InputUnavailable,
    InvalidInput,
    JobFailed,
    validation_error,
)
from executor.outputs import Collected
from executor.protocol import HistoryEntry, Outcome, OutputRef
from executor.runtime import Runtime
from executor.tracker import PromptState, PromptTracker
from executor.verdict import Ending, error_detail, job_error, out_of_memory
from store import Job, Progress, StoreError, StoreFull
from store.policy import PolicyViolation

FULL_RETRY_S = (0.5, 10.0)  # a terminal write that meets a full disk is retried, backing off from/to this


class Phase(enum.Enum):
    PREPARING = "preparing"  # inputs checked and uploaded
    IN_COMFYUI = "in_comfyui"  # prompt queued or running in ComfyUI
    STORING = "storing"  # outputs fetched, stored, terminal state written
    DONE = "done"


class JobRun:
    def __init__(self, rt: Runtime, job: Job, predecessor: JobRun | None) -> None:
        self.rt, self.job, self.predecessor = rt, job, predecessor
        self.phase = Phase.PREPARING
        self.cancel_requested = job.cancel_requested
        self.stop_requested = False  # reset-stuck found it over the limit: stop it like its own deadline
        self.release_requested = False
        self.ending = Ending.NORMAL  # CANCELLED | TIMEOUT once ComfyUI was asked to stop the prompt
        self.tracker: PromptTracker | None = None
        self.task: asyncio.Task[None] | None = None
        self.outcome = ""  # completed | failed | cancelled | requeued | released | unreleased | lost
        self.submitted = asyncio.Event()
        self.finished = asyncio.Event()
        self.timeout_s = job.timeout_s or rt.settings.job_timeout_s
        self.left_comfyui_at: float | None = None  # monotonic time its prompts stopped occupying ComfyUI
        self.progress_written_at = 0.0
        self.progress_written_seq = 0
        self.log = get_logger(job_id=job.id)

    # --- the task -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(job_id=self.job.id)
        try:
            await self._run()
        except ComfyUnavailable as exc:
            self.rt.on_unavailable()
            if isinstance(exc, ComfySilent):  # alive (its process runs) but silent: the watchdog restarts it
                self.rt.on_stuck("comfyui_unresponsive")
            await self._stop_prompt_quietly()  # ComfyUI may have taken the prompt and lost only its answer
            if self.ending is not Ending.NORMAL:  # it was being stopped: it ends as asked, never requeued
                await self._finish(self.ending, None, Collected(files=[], texts=[], missing=[]))
                return
            if self.tracker is not None and self.tracker.state is PromptState.QUEUED:  # never ran: no attempt spent
                await self._write("released", self.rt.store.release, self.job.id, self.rt.worker_id)
                return
            error = {"type": "comfyui_unavailable", "message": exc.message}
            await self._write("requeued", self.rt.store.requeue, self.job.id, self.rt.worker_id, error)
        except InputUnavailable as exc:  # a fetch that may work next time (what was fetched is kept)
            await self._write("requeued", self.rt.store.requeue, self.job.id, self.rt.worker_id, exc.to_error())
        except BadResponse as exc:  # the same garbage would come back on a retry
            self.log.warning("comfyui_bad_response", detail=exc.message)
            await self._stop_prompt_quietly()
            await self._write("failed", self.rt.store.fail, self.job.id, self.rt.worker_id, exc.to_error())
        except JobFailed as exc:
            await self._write("failed", self.rt.store.fail, self.job.id, self.rt.worker_id, exc.to_error())
        except RecursionError:  # a workflow stored before MAX_WORKFLOW_DEPTH: copying it recursed too deep
            await self._stop_prompt_quietly()
            error = InvalidInput("the workflow is nested too deeply to be sent to ComfyUI").to_error()
            await self._write("failed", self.rt.store.fail, self.job.id, self.rt.worker_id, error)
        except Exception as exc:  # S3, a malformed answer, a bug: never leave the job running (heartbeats renew it)
            self.log.exception("job_crashed")
            await self._stop_prompt_quietly()
            error = {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}
            await self._write("requeued", self.rt.store.requeue, self.job.id, self.rt.worker_id, error)
        except asyncio.CancelledError:  # the executor releases this job (shutdown) or lost it
            await self._stop_prompt_quietly()
            if self.release_requested:
                await self._write("released", self.rt.store.release, self.job.id, self.rt.worker_id)
        finally:
            self.phase = Phase.DONE
            self.left_comfyui_at = self.left_comfyui_at or time.monotonic()
            self.predecessor = None  # else every run stays reachable from the newest while the executor is busy
            if self.tracker:
                self.rt.routes.pop(self.tracker.prompt_id, None)
            inputs.remove_inputs(self.rt.settings.comfyui_input_dir, self.job.id)
            self.submitted.set()
            self.finished.set()

    async def _run(self) -> None:
        workflow = await self._prepare()
        if self.predecessor:
            await self.predecessor.submitted.wait()
        if self.cancel_requested or self.stop_requested:
            ending = Ending.CANCELLED if self.cancel_requested else Ending.TIMEOUT
            await self._finish(ending, None, Collected(files=[], texts=[], missing=[]))
            return
        ending, entry = await self._execute(workflow)
        collected = await self._collect(entry)
        stale = self._reused_names(entry, collected)
        if entry and entry.outcome is Outcome.SUCCESS and (collected.missing or stale) and ending is Ending.NORMAL:
            # a cached run names files deleted since (trace 43), or files of those names that a later job wrote
            # (we remove outputs, so ComfyUI's counter reuses names): reset ComfyUI's cache and run it once more
            self.log.warning("cached_output_missing", files=[r.filename for r in collected.missing + stale])
            await self.rt.client.free_cache()
            ending, entry = await self._execute(workflow)
            collected = await self._collect(entry)
        if ending is Ending.NORMAL and out_of_memory(entry):  # ComfyUI's memory freed, then one more attempt
            assert entry is not None
            self.log.warning("job_out_of_memory", retry=True, **error_detail(entry.error))
            self.rt.on_out_of_memory(error_detail(entry.error))
            await self.rt.client.free_memory()
            ending, entry = await self._execute(workflow)
            collected = await self._collect(entry)
        await self._finish(ending, entry, collected)

    def _reused_names(self, entry: HistoryEntry | None, collected: Collected) -> list[OutputRef]:
        """Output files of cached nodes, when we remove outputs locally: their names may now hold another job's
        bytes (ComfyUI's counter starts again in an emptied folder), so they are never trusted."""
        if entry is None or not entry.cached or not self.rt.settings.comfyui_output_dir:
            return []
        cached = set(entry.cached)
        return [f.ref for f in collected.files if f.ref.node_id in cached and f.ref.type == "output"]

    async def _prepare(self) -> dict[str, Any]:
        images, refs = self.rt.store.get_inputs(self.job.id), self.job.references
        try:  # on the workflow as submitted: the rewrite below makes our own names jobs/<id>/... paths
            self.rt.policy.check(self.job.workflow, [image.name for image in images] + [r.name for r in refs])
        except PolicyViolation as exc:
            raise InvalidInput(exc.message, **exc.details) from None
        images = await references.fetch_missing(self.rt.fetcher, self.rt.store, self.job, self.rt.worker_id, images)
        limits = self.rt.fetcher.media if refs else None  # inline ones were checked at submit
        renames = await inputs.upload_inputs(self.rt.client, self.job.id, images, limits)
        if renames:
            self.log.debug("inputs_uploaded", count=len(renames))
        return inputs.rewrite_workflow(self.job.workflow, renames)

    # --- in ComfyUI ---------------------------------------------------------------------------------------

    def _extra_data(self) -> dict[str, Any]:
        key = self.job.options.get("comfy_org_api_key") or self.rt.settings.comfy_org_api_key
        return {"api_key_comfy_org": key} if key else {}

    async def _execute(self, workflow: dict[str, Any]) -> tuple[Ending, HistoryEntry | None]:
        tracker = PromptTracker(str(uuid.uuid4()), workflow)
        if self.tracker:
            self.rt.routes.pop(self.tracker.prompt_id, None)
        self.tracker = tracker
        self.rt.routes[tracker.prompt_id] = self  # before POST: its first frames may beat the HTTP answer
        self.phase = Phase.IN_COMFYUI
        try:
            accepted = await self.rt.client.queue_prompt(
                workflow, client_id=self.rt.client_id, prompt_id=tracker.prompt_id,
                extra_data=self._extra_data())
        finally:
            self.submitted.set()
        self.log.debug("prompt_queued", prompt_id=accepted.prompt_id, number=accepted.number)
        if accepted.node_errors:  # HTTP 200, but part of the workflow was dropped (trace 21)
            await reconcile.stop(self.rt.client, tracker)
            raise validation_error(200, {"node_errors": accepted.node_errors})
        return await self._follow(tracker)

    async def _follow(self, tracker: PromptTracker) -> tuple[Ending, HistoryEntry | None]:
        """Wait for the prompt's end, acting on cancels, the deadline, reconnects and silences."""
        ending, stopped_at = Ending.NORMAL, 0.0
        while True:
            tracker.changed.clear()
            if tracker.state is PromptState.FINISHED:
                entry = tracker.socket_entry() or await reconcile.read_history(self.rt.client, tracker.prompt_id)
                if entry is None:
                    raise ComfyUnavailable("prompt finished but ComfyUI has no history of it")
                return ending, entry
            if tracker.state is PromptState.DELETED:
                return ending, None
            if tracker.state is PromptState.VANISHED:
                raise ComfyUnavailable(tracker.reason)
            if ending is Ending.NORMAL and (self.cancel_requested or self.stop_requested
                                            or self._deadline_passed(tracker)):
                ending = self.ending = Ending.CANCELLED if self.cancel_requested else Ending.TIMEOUT
                self.log.info("prompt_stopping", reason=ending.value, prompt_id=tracker.prompt_id)
                stopped_at = time.monotonic()
                await self._answer(reconcile.stop(self.rt.client, tracker))
                continue
            if ending is not Ending.NORMAL and time.monotonic() - stopped_at > self.rt.settings.interrupt_grace_s:
                self.log.error("prompt_did_not_stop", prompt_id=tracker.prompt_id, reason=ending.value,
                               grace_s=self.rt.settings.interrupt_grace_s)
                self.rt.on_stuck("comfyui_stuck")  # the watchdog restarts this ComfyUI once the job has ended
                return ending, None
            if tracker.needs_reconcile:
                tracker.needs_reconcile = False
                await self._answer(reconcile.reconcile(self.rt.client, tracker))
                continue
            await self._wait(tracker, ending)

    async def _answer(self, asked: Any) -> None:
        """ComfyUI answers within INTERRUPT_GRACE_S, or it counts as not answering (the watchdog then acts)."""
        try:
            await asyncio.wait_for(asked, timeout=self.rt.settings.interrupt_grace_s)
        except TimeoutError:
            raise ComfySilent(f"ComfyUI did not answer within {self.rt.settings.interrupt_grace_s:g} s "
                                   "(INTERRUPT_GRACE_S)") from None

    async def _wait(self, tracker: PromptTracker, ending: Ending) -> None:
        silence = self.rt.settings.heartbeat_interval_s
        if ending is not Ending.NORMAL:  # look again at the end of the grace period at the latest
            silence = min(silence, self.rt.settings.interrupt_grace_s)
        start = self._deadline_start(tracker)
        if ending is Ending.NORMAL and start is not None:
            silence = max(0.01, min(silence, start + self.timeout_s - time.monotonic() + 0.01))
        try:
            await asyncio.wait_for(tracker.changed.wait(), timeout=silence)
        except TimeoutError:
            tracker.poke(reconcile=True)  # a silence: ask ComfyUI

    def _deadline_start(self, tracker: PromptTracker) -> float | None:
        """When the deadline started counting: when ComfyUI started the prompt; for one still queued, when it
        was submitted or when our predecessor left ComfyUI, whichever is later (None while the predecessor is
        still there: waiting behind our own pipelined job is not charged)."""
        if tracker.running_since is not None:
            return tracker.running_since
        if self.predecessor is None:
            return tracker.submitted_at
        if self.predecessor.left_comfyui_at is None:
            return None
        return max(tracker.submitted_at, self.predecessor.left_comfyui_at)

    def _deadline_passed(self, tracker: PromptTracker) -> bool:
        start = self._deadline_start(tracker)
        return start is not None and time.monotonic() - start > self.timeout_s

    async def _collect(self, entry: HistoryEntry | None) -> Collected:
        if entry is None:
            return Collected(files=[], texts=[], missing=[])
        include_temp = bool(self.job.options.get("include_temp", self.rt.settings.include_temp_outputs))
        return await outputs.collect(self.rt.client, entry.outputs, include_temp=include_temp,
                                     output_dir=self.rt.settings.comfyui_output_dir)

    # --- finishing ----------------------------------------------------------------------------------------

    async def _finish(self, ending: Ending, entry: HistoryEntry | None, collected: Collected) -> None:
        self.phase = Phase.STORING
        self.left_comfyui_at = time.monotonic()
        stored = await deliver(self.rt.settings, self.rt.sink, self.job, collected)
        if entry is not None:  # the prompt ran: finish in the order ComfyUI ran them
            await self._in_turn()
        store, ids = self.rt.store, (self.job.id, self.rt.worker_id)
        ran = self.tracker.ran_s() if self.tracker else None  # for the metrics
        error = job_error(ending, entry, collected, timeout_s=self.timeout_s, stop_requested=self.stop_requested)
        if ending is Ending.CANCELLED:
            await self._write("cancelled", partial(store.finish_cancelled, comfyui_s=ran), *ids, stored.result,
                              stored.files)
        elif error is not None:
            await self._write("failed", partial(store.fail, comfyui_s=ran), *ids, error.to_error(), stored.result,
                              stored.files)
        else:
            await self._write("completed", partial(store.complete, comfyui_s=ran), *ids, stored.result, stored.files)
        if self.outcome != "lost":
            refs = [fetched.ref for fetched in collected.files] + collected.unservable
            removed = outputs.remove_local(self.rt.settings.comfyui_output_dir, refs)
            if removed:
                self.log.debug("outputs_removed", count=removed)

    async def _in_turn(self) -> None:
        """Jobs whose prompt ran write their terminal state in claim order (the order ComfyUI ran them)."""
        if self.predecessor:
            await self.predecessor.finished.wait()

    async def _write(self, outcome: str, op: Callable[..., Any], *args: Any) -> None:
        """One store transition; a job recovered by someone else meanwhile is logged as lost. A full disk is
        waited out (the outputs stay in memory, heartbeats keep the job ours) until the write goes through;
        cancelled meanwhile (shutdown), or a release that fails, leaves the job to the stale-heartbeat recovery."""
        delay = FULL_RETRY_S[0]
        while True:
            try:
                op(*args)
                break
            except StoreFull as exc:
                if outcome == "released":  # shutting down: its heartbeat stops, so it is recovered later
                    self.outcome = "unreleased"
                    self.log.warning("job_not_released", reason=str(exc))
                    return
                self.log.warning("job_write_deferred", outcome=outcome, retry_in_s=delay, reason=str(exc))
            except StoreError as exc:  # recovered by the supervisor meanwhile, or already finished
                self.outcome = "lost"
                self.log.warning("job_lost", reason=str(exc))
                return
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                if outcome != "released":
                    with contextlib.suppress(StoreError):
                        self.rt.store.release(self.job.id, self.rt.worker_id)
                raise
            delay = min(delay * 2, FULL_RETRY_S[1])
        self.outcome = outcome
        self.phase = Phase.DONE
        level = "info" if outcome in {"completed", "released", "cancelled"} else "warning"
        getattr(self.log, level)(f"job_{outcome}", **({"prompt_id": self.tracker.prompt_id} if self.tracker else {}))

    async def _stop_prompt_quietly(self) -> None:
        tracker = self.tracker
        if tracker is None or tracker.done:
            return
        with contextlib.suppress(ComfyUnavailable, BadResponse, TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reconcile.stop(self.rt.client, tracker), timeout=5.0)

    # --- called by the executor ---------------------------------------------------------------------------

    @property
    def started_in_comfyui(self) -> bool:
        """ComfyUI has started (or finished) this job's prompt; False while preparing or still queued."""
        if self.phase in (Phase.STORING, Phase.DONE):
            return True
        return self.tracker is not None and self.tracker.state is not PromptState.QUEUED

    def request_cancel(self) -> None:
        if not self.cancel_requested:
            self.cancel_requested = True
            self.log.info("job_cancel_requested")
            if self.tracker:
                self.tracker.poke()

    def request_stop(self) -> None:
        """reset-stuck asks for this job to end: interrupted in ComfyUI, failed with ``timeout``."""
        if not self.stop_requested:
            self.stop_requested = True
            self.log.warning("job_stop_requested", reason="reset_stuck")
            if self.tracker:
                self.tracker.poke()

    def write_progress(self, throttle_s: float, *, force: bool = False) -> None:
        tracker = self.tracker
        if tracker is None or self.phase is not Phase.IN_COMFYUI:
            return
        if tracker.progress_seq == self.progress_written_seq:
            return
        now = time.monotonic()
        # the first write too waits throttle_s from the prompt's start: a job shorter than that writes none
        started = tracker.running_since if tracker.running_since is not None else now
        if not force and now - max(self.progress_written_at, started) < throttle_s:
            return
        progress = Progress(value=tracker.value, max=tracker.max, node=tracker.node,
                            node_type=tracker.node_type())
        self.progress_written_at, self.progress_written_seq = now, tracker.progress_seq
        try:
            self.rt.store.record_progress(self.job.id, self.rt.worker_id, progress)
        except StoreFull as exc:  # progress is a hint: the store's own store_full line says the rest
            self.log.debug("progress_not_recorded", reason=str(exc))
        except Exception as exc:  # not ours any more, or the database locked: never kill the socket's reader
            self.log.warning("progress_not_recorded", reason=f"{type(exc).__name__}: {exc}")
