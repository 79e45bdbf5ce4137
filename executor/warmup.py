"""The warm-up (WARMUP_WORKFLOW): one prompt run on ComfyUI after it started or came back, before the executor
claims a job, so that the first client job does not pay for loading models.

The prompt is followed through ``GET /history`` and ``GET /queue`` (the websocket is connected only afterwards):
a warm-up runs once per start, so a few polls cost nothing. Its outcome is ComfyUI's: a validation error (HTTP
400 with ``node_errors``) or an ``execution_error``, as a job's error would be (docs/internals.md), or a
``timeout`` past JOB_TIMEOUT_S. Its output files are removed from ComfyUI's output folder when that folder is
local (COMFYUI_OUTPUT_DIR), so warm-ups never pile up there; ``PreviewImage`` outputs go to ComfyUI's temp
folder, which ComfyUI empties at every start.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec

from executor import outputs, reconcile
from executor.comfy_client import ComfyClient
from executor.errors import (
    ComfyUnavailable,
    ExecutionFailed,
    JobFailed,
    TimedOut,
    execution_error,
    validation_error,
)
from executor.protocol import HistoryEntry, Outcome, output_refs
from executor.tracker import PromptState, PromptTracker

POLL_S = (0.02, 0.25)  # the first poll of history/queue after this long, backing off to this


class WarmupResult(msgspec.Struct, frozen=True):
    duration_s: float
    error: dict[str, Any] | None  # None: it succeeded
    removed: int = 0  # output files removed from ComfyUI's output folder
    prompt_id: str = ""


async def run(client: ComfyClient, workflow: dict[str, Any], *, client_id: str, timeout_s: float,
              output_dir: str | None) -> WarmupResult:
    """Run ``workflow`` once and wait for its end. Raises ComfyUnavailable when ComfyUI went away meanwhile
    (then warm up again once it is back); any other outcome is in the result."""
    started = time.monotonic()
    tracker = PromptTracker(str(uuid.uuid4()), workflow)
    entry: HistoryEntry | None = None
    try:
        accepted = await client.queue_prompt(workflow, client_id=client_id, prompt_id=tracker.prompt_id)
        if accepted.node_errors:  # HTTP 200, but part of the workflow was dropped (trace 21)
            await reconcile.stop(client, tracker)
            raise validation_error(200, {"node_errors": accepted.node_errors})
        entry = await _follow(client, tracker, started + timeout_s, timeout_s)
        failure = _failure(entry)
    except JobFailed as exc:  # refused by ComfyUI (validation), garbage (BadResponse), past the deadline
        failure = exc
    removed = 0
    if entry is not None:
        refs, _texts = output_refs(entry.outputs)
        removed = outputs.remove_local(output_dir, refs)
    return WarmupResult(duration_s=time.monotonic() - started, error=failure.to_error() if failure else None,
                        removed=removed, prompt_id=tracker.prompt_id)


async def _follow(client: ComfyClient, tracker: PromptTracker, deadline: float, timeout_s: float) -> HistoryEntry:
    """The prompt's history entry once it ended; interrupted and TimedOut past ``deadline``."""
    delay = POLL_S[0]
    while True:
        await reconcile.reconcile(client, tracker)
        if tracker.state is PromptState.FINISHED:
            entry = await reconcile.read_history(client, tracker.prompt_id)
            if entry is None:
                raise ComfyUnavailable("the warm-up finished but ComfyUI has no history of it")
            return entry
        if tracker.state is PromptState.VANISHED:
            raise ComfyUnavailable(f"the warm-up prompt was lost: {tracker.reason}")
        if time.monotonic() > deadline:
            await reconcile.stop(client, tracker)
            raise TimedOut(f"the warm-up ran longer than JOB_TIMEOUT_S={timeout_s:g} s and was interrupted",
                           timeout_s=timeout_s)
        await asyncio.sleep(delay)
        delay = min(delay * 2, POLL_S[1])


def _failure(entry: HistoryEntry) -> JobFailed | None:
    if entry.outcome is Outcome.ERROR:
        return execution_error(entry.error or {})
    if entry.outcome is Outcome.INTERRUPTED:
        return ExecutionFailed("the warm-up was interrupted in ComfyUI", exception_type="interrupted")
    return None
