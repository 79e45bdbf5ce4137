"""The states of a managed process and every edge between them, in one table."""

from __future__ import annotations

import enum


class ProcessState(enum.StrEnum):
    STOPPED = "stopped"  # not started yet, or stopped on purpose
    STARTING = "starting"  # spawned, not ready yet (ComfyUI: no answer to its probe yet)
    RUNNING = "running"  # ready
    BACKOFF = "backoff"  # exited or failed to start; waiting before the next start
    STOPPING = "stopping"  # asked to stop (SIGTERM to its group), waiting for it to exit
    EXITED = "exited"  # exited, and the supervisor decides what comes next (restart at once, or stay down)
    FATAL = "fatal"  # failed too often within the restart window; never restarted


class InvalidStateChange(Exception):
    """A managed process was asked to move along an edge the state table does not have."""


S = ProcessState

TRANSITIONS: frozenset[tuple[ProcessState, ProcessState]] = frozenset({
    (S.STOPPED, S.STARTING),  # stopped -> starting: first start, or start after a planned stop
    (S.EXITED, S.STARTING),  # exited -> starting: planned restart (refresh), no backoff
    (S.BACKOFF, S.STARTING),  # backoff -> starting: the backoff delay has passed
    (S.STARTING, S.RUNNING),  # starting -> running: spawned (and, for ComfyUI, its probe answered)
    (S.STARTING, S.BACKOFF),  # starting -> backoff: exited, failed to spawn, or never became ready
    (S.RUNNING, S.BACKOFF),  # running -> backoff: crashed, or killed because it hung
    (S.STARTING, S.FATAL),  # starting -> fatal: one failure too many within the window
    (S.RUNNING, S.FATAL),  # running -> fatal: one failure too many within the window
    (S.STARTING, S.EXITED),  # starting -> exited: exited in a way that is not a failure
    (S.RUNNING, S.EXITED),  # running -> exited: exit that asks for a restart (executor status 3)
    (S.STARTING, S.STOPPING),  # starting -> stopping: stop requested before it became ready
    (S.RUNNING, S.STOPPING),  # running -> stopping: stop requested (shutdown, refresh, dependency lost)
    (S.STOPPING, S.STOPPED),  # stopping -> stopped: exited after the stop request
    (S.BACKOFF, S.STOPPED),  # backoff -> stopped: stop requested while waiting to restart
    (S.EXITED, S.STOPPED),  # exited -> stopped: stays down
})


def check_transition(current: ProcessState, new: ProcessState) -> None:
    """Raise InvalidStateChange unless ``current -> new`` is an edge of TRANSITIONS."""
    if (current, new) not in TRANSITIONS:
        raise InvalidStateChange(f"{current} -> {new} is not a valid state change")


ALIVE = frozenset({S.STARTING, S.RUNNING, S.STOPPING})  # a process exists (or is being spawned)
