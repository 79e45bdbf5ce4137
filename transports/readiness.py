"""Readiness (``/ready``) and backpressure (MAX_QUEUE_DEPTH): whether the daemon accepts work now.

Ready means a job submitted now is taken and run soon: at least one ComfyUI running with its executor, and warmed
up when WARMUP_WORKFLOW is set; the store writable and above its disk floor (MIN_FREE_DISK_MB); fewer than
MAX_QUEUE_DEPTH jobs pending; the daemon not shutting down. ``/health`` keeps its own meaning (is anything down).
"""

from __future__ import annotations

import os

from store import Component, Store, Warmup, WarmupState
from transports.bodies import ReadyBody, WarmupBody
from transports.disk import disk_body, disk_problem
from transports.errors import QueueFull

RETRY_AFTER_S = 5  # Retry-After of a 429 for a full queue: about a few short jobs' time


def _warmup_body(w: Warmup) -> WarmupBody:
    return WarmupBody(state=str(w.state), runs=w.runs, failures=w.failures, duration_s=w.duration_s,
                      error=w.error, started_at=w.started_at, finished_at=w.finished_at)


def warmup_bodies(store: Store) -> dict[str, WarmupBody]:
    """Each instance's warm-up, keyed like its ComfyUI component (``comfyui-<i>``)."""
    return {f"comfyui-{w.instance}": _warmup_body(w) for w in store.warmups()}


def queue_problem(pending: int, max_queue_depth: int) -> str | None:
    if max_queue_depth and pending >= max_queue_depth:
        return f"queue full: {pending} jobs pending, MAX_QUEUE_DEPTH={max_queue_depth}"
    return None


def queue_room(store: Store, max_queue_depth: int) -> int | None:
    """How many more jobs may be pending (MAX_QUEUE_DEPTH); None without a limit. One O(1) read."""
    if not max_queue_depth:
        return None
    return max(0, max_queue_depth - store.stats()["pending"])


def queue_full(max_queue_depth: int) -> QueueFull:
    return QueueFull(f"the queue is full: MAX_QUEUE_DEPTH={max_queue_depth} jobs are pending; "
                     f"retry after {RETRY_AFTER_S} s", retry_after_s=RETRY_AFTER_S, max_queue_depth=max_queue_depth)


def store_problem(store: Store) -> str | None:
    """Why the store takes no write (opened read-only, a file or folder we may not write); None when it can."""
    folder = os.path.dirname(os.path.abspath(store.path))
    if store.conn.readonly("main") or not os.access(store.path, os.W_OK) or not os.access(folder, os.W_OK):
        return f"store not writable: {store.path}"
    return None


def _instance_problem(index: str, components: dict[str, Component], warmups: dict[str, Warmup],
                      warmup: bool) -> str | None:
    """Why ComfyUI instance ``index`` takes no job now; None when it does."""
    comfyui, executor = components.get(f"comfyui-{index}"), components.get(f"executor-{index}")
    if comfyui is None or comfyui.state != "running":
        return f"comfyui-{index} is {comfyui.state if comfyui else 'unknown'}"
    if executor is None or executor.state != "running":
        return f"executor-{index} is {executor.state if executor else 'not started'}"
    if not warmup:
        return None
    row = warmups.get(f"comfyui-{index}")
    if row is None or row.state is WarmupState.PENDING:
        return f"comfyui-{index} has not warmed up yet"
    if row.state is WarmupState.RUNNING:
        return f"comfyui-{index} is warming up"
    if row.state is WarmupState.FAILED:
        message = (row.error or {}).get("message", "unknown error")
        return f"comfyui-{index} warm-up failed: {message}"
    return None


def readiness(store: Store, *, warmup: bool, max_queue_depth: int) -> ReadyBody:
    """The answer of /ready; any failure to read the store is a reason, never an exception."""
    try:
        components = {c.name: c for c in store.components()}
        warmups = {f"comfyui-{w.instance}": w for w in store.warmups()}
        pending = store.stats()["pending"]
        disk = disk_body(store)
    except Exception as exc:
        return ReadyBody(status="not_ready", reasons=[f"store unreadable: {type(exc).__name__}: {exc}"])
    reasons = [r for r in (store_problem(store), disk_problem(disk, store.path)) if r]
    if (supervisor := components.get("supervisor")) and supervisor.state != "running":
        reasons.append(f"the daemon is {supervisor.state}")
    indexes = sorted(name.removeprefix("comfyui-") for name in components if name.startswith("comfyui-"))
    problems = {i: _instance_problem(i, components, warmups, warmup) for i in indexes}
    ready = [f"comfyui-{i}" for i, problem in problems.items() if problem is None]
    if not indexes:
        reasons.append("no ComfyUI instance is known (is the supervisor running?)")
    elif not ready:
        reasons += [problem for problem in problems.values() if problem]
    if problem := queue_problem(pending, max_queue_depth):
        reasons.append(problem)
    return ReadyBody(status="not_ready" if reasons else "ready", reasons=reasons, pending_jobs=pending,
                     max_queue_depth=max_queue_depth or None, ready_instances=ready,
                     warmup={name: _warmup_body(w) for name, w in warmups.items()})
