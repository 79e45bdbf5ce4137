"""When and how an executor warms its ComfyUI up (executor.warmup runs the prompt), and what it reports.

The workflow file is read once, when the executor starts (the supervisor already refused to start with a bad one).
The warm-up runs after ComfyUI became ready, and whenever it may have restarted (it came back, or the websocket
connected again) and no longer knows our last warm-up prompt, before any claim; a ComfyUI that goes away during
it is waited for and warmed up again. Its outcome goes to the store (``warmups``: /health, /ready, the
metrics) and to the log (``warmup_finished`` or ``warmup_failed``, with ``duration_s``). A failed warm-up does not
stop the executor: its jobs run cold, and /ready says why the instance is not warm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from config.settings import Settings
from config.workflow_file import WorkflowFileError, load_workflow
from executor import warmup
from executor.comfy_client import ComfyClient
from executor.errors import BadResponse, ComfyUnavailable
from executor.warmup import WarmupResult
from store import Store


class WarmupRunner:
    def __init__(self, settings: Settings, store: Store, client: ComfyClient, *, instance: int, worker_id: str,
                 client_id: str, probe: Callable[[], Awaitable[None]], log: Any) -> None:
        self.settings, self.store, self.client, self.probe, self.log = settings, store, client, probe, log
        self.instance, self.worker_id, self.client_id = instance, worker_id, client_id
        self.path = settings.warmup_workflow
        self.workflow: dict[str, Any] | None = None
        self.problem: str | None = None  # the file could not be used
        self.prompt_id = ""  # of the last warm-up ComfyUI ran: while ComfyUI remembers it, it has not restarted
        self.lock = asyncio.Lock()  # one warm-up at a time (a reconnect and a recovery may both ask)
        if self.path:
            try:
                self.workflow = load_workflow(self.path)
            except WorkflowFileError as exc:
                self.problem = f"WARMUP_WORKFLOW={self.path}: {exc}"

    async def ensure(self) -> None:
        """Warm our ComfyUI up (nothing without WARMUP_WORKFLOW) unless it still knows our last warm-up prompt:
        a ComfyUI that forgot it restarted (its history starts empty), so its models are gone. Returns once the
        warm-up succeeded or failed; never raises for an unreachable ComfyUI (it waits for it)."""
        if not self.path:
            return
        async with self.lock:
            if not await self._forgotten():
                return
            await self._run()

    async def _forgotten(self) -> bool:
        while self.prompt_id:
            try:
                return await self.client.history(self.prompt_id) is None
            except ComfyUnavailable:
                await self.probe()
            except BadResponse:
                return True
        return True

    async def _run(self) -> None:
        while True:
            self._record_start()
            try:
                result = await self._attempt()
            except ComfyUnavailable as exc:  # it went away: once it is back, its models are gone again
                self.log.warning("warmup_interrupted", reason=exc.message)
                await self.probe()
                continue
            self.prompt_id = result.prompt_id
            self._record_end(result)
            return

    async def _attempt(self) -> WarmupResult:
        if self.workflow is None:
            return WarmupResult(duration_s=0.0, error={"type": "invalid_input", "message": str(self.problem)})
        self.log.info("warmup_started", instance=self.instance)
        try:
            return await warmup.run(self.client, self.workflow, client_id=self.client_id,
                                    timeout_s=self.settings.job_timeout_s,
                                    output_dir=self.settings.comfyui_output_dir)
        except ComfyUnavailable:
            raise
        except Exception as exc:  # a bug must not keep the executor from its jobs
            self.log.exception("warmup_crashed")
            return WarmupResult(duration_s=0.0, error={"type": "internal", "message": f"{type(exc).__name__}: {exc}"})

    def _record_start(self) -> None:
        try:
            self.store.warmup_started(self.instance, self.worker_id)
        except Exception as exc:  # a full disk: /ready shows an older state for a while
            self.log.warning("warmup_not_recorded", reason=f"{type(exc).__name__}: {exc}")

    def _record_end(self, result: WarmupResult) -> None:
        fields = {"instance": self.instance, "duration_s": round(result.duration_s, 3), "prompt_id": result.prompt_id}
        if result.error is None:
            self.log.info("warmup_finished", outputs_removed=result.removed, **fields)
        else:
            self.log.warning("warmup_failed", error=result.error, **fields)
        try:
            self.store.warmup_finished(self.instance, self.worker_id, duration_s=result.duration_s,
                                       error=result.error)
        except Exception as exc:
            self.log.warning("warmup_not_recorded", reason=f"{type(exc).__name__}: {exc}")
