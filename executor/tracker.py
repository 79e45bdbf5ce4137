"""What ComfyUI is doing with one prompt, as the websocket hints at it and history/queue confirm it.

The states and every allowed edge live here; ``move`` is the only place a state changes. Late or duplicate
hints (a frame after the prompt finished) simply do not match an edge and are ignored.

The tracker also keeps what the socket said of the prompt's result (``executed`` outputs, ``execution_cached``,
``execution_success``): when the socket saw the whole run of a prompt that ran with nothing cached and
succeeded, that is exactly what its history entry holds, and ``socket_entry`` saves the ``GET /history``.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from typing import Any

from executor import protocol as p
from executor.protocol import HistoryEntry, Outcome


class PromptState(enum.Enum):
    QUEUED = "queued"  # accepted by POST /prompt, not seen running yet
    RUNNING = "running"  # execution_start / executing / progress seen, or GET /queue lists it running
    FINISHED = "finished"  # the completion signal, or history has it: read history for the outcome
    DELETED = "deleted"  # we removed it from ComfyUI's queue before it started
    VANISHED = "vanished"  # in neither queue nor history (ComfyUI restarted), or ComfyUI is unreachable


_EDGES: dict[PromptState, frozenset[PromptState]] = {
    # queued -> running | finished | deleted | vanished
    PromptState.QUEUED: frozenset({PromptState.RUNNING, PromptState.FINISHED, PromptState.DELETED,
                                   PromptState.VANISHED}),
    # running -> finished | vanished
    PromptState.RUNNING: frozenset({PromptState.FINISHED, PromptState.VANISHED}),
    PromptState.FINISHED: frozenset(),
    PromptState.DELETED: frozenset(),
    PromptState.VANISHED: frozenset(),
}
TERMINAL = frozenset({PromptState.FINISHED, PromptState.DELETED, PromptState.VANISHED})


class PromptTracker:
    def __init__(self, prompt_id: str, workflow: dict[str, Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.prompt_id = prompt_id
        self.workflow = workflow
        self.clock = clock
        self.state = PromptState.QUEUED
        self.submitted_at = clock()
        self.running_since: float | None = None
        self.ended_at: float | None = None  # when it reached a terminal state
        self.reason = ""
        self.node: str | None = None
        self.value = 0
        self.max = 0
        self.progress_seq = 0  # bumped on every progress change; the executor writes it throttled
        self.needs_reconcile = False
        self.changed = asyncio.Event()
        # what the socket said of the result; `seen_whole` turns False at the first doubt (reconnect, silence)
        self.seen_whole = True
        self.outputs: dict[str, dict[str, Any]] = {}  # node id -> its `executed` output
        self.cached: list[str] | None = None  # execution_cached's nodes (None: frame not seen)
        self.succeeded = False  # execution_success seen

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def move(self, new: PromptState, reason: str = "") -> bool:
        """Take the edge state -> new if it exists; returns whether the state changed."""
        if new not in _EDGES[self.state]:
            return False
        self.state = new
        self.reason = reason or self.reason
        if new is PromptState.RUNNING:
            self.running_since = self.clock()
        elif new in TERMINAL:
            self.ended_at = self.clock()
        self.changed.set()
        return True

    def poke(self, *, reconcile: bool = False) -> None:
        """Wake whoever waits on this prompt (a cancel, a reconnect; ``reconcile``: frames may have been lost,
        ask ComfyUI, and trust history rather than the socket for the result)."""
        if reconcile:
            self.needs_reconcile = True
            self.seen_whole = False
        self.changed.set()

    def socket_entry(self) -> HistoryEntry | None:
        """The history entry the socket already gave, or None when history must be read: only for a prompt
        that finished on its completion signal, whose every frame the socket saw (no reconnect, no silence),
        with ``execution_cached`` naming no node (a cached output node may send no ``executed``: older
        ComfyUIs did not) and ``execution_success`` seen. Errors and interrupts always read history."""
        if self.state is not PromptState.FINISHED or not self.seen_whole or self.cached != [] or not self.succeeded:
            return None
        return HistoryEntry(outcome=Outcome.SUCCESS, outputs=dict(self.outputs), error=None)

    def ran_s(self) -> float | None:
        """How long the prompt ran in ComfyUI; None if it never started or has not ended."""
        if self.running_since is None or self.ended_at is None:
            return None
        return self.ended_at - self.running_since

    def node_type(self) -> str | None:
        node = self.workflow.get(self.node or "") if self.node else None
        return node.get("class_type") if isinstance(node, dict) else None

    def on_event(self, event: p.Event) -> None:
        """Apply a websocket hint addressed to this prompt."""
        if isinstance(event, p.ExecutionStart):
            self.move(PromptState.RUNNING)
        elif isinstance(event, p.Executing):
            if event.node is None:
                self.move(PromptState.RUNNING)
                self.move(PromptState.FINISHED, "completion signal")
            else:
                self.move(PromptState.RUNNING)
                self._progress(event.node, 0, 0)
        elif isinstance(event, p.Progress):
            self.move(PromptState.RUNNING)
            self._progress(event.node or self.node, event.value, event.max)
        elif isinstance(event, p.Executed):
            if event.output:
                self.outputs[event.node] = event.output
        elif isinstance(event, p.ExecutionCached):
            self.cached = (self.cached or []) + event.nodes
        elif isinstance(event, p.ExecutionSuccess):
            self.succeeded = True

    def _progress(self, node: str | None, value: int, maximum: int) -> None:
        if (node, value, maximum) != (self.node, self.value, self.max):
            self.node, self.value, self.max = node, value, maximum
            self.progress_seq += 1
            self.changed.set()

    def deadline_passed(self, timeout_s: float) -> bool:
        """Running longer than timeout_s, or queued longer than that without starting."""
        start = self.running_since if self.running_since is not None else self.submitted_at
        return self.clock() - start > timeout_s
