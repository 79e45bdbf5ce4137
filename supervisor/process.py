"""A managed child process: its state, its restart policy and its timers, driven by an injected clock.

Nothing here touches the operating system directly: processes come from an injected spawner (see ``spawn.py``
for the real one, ``tests/supervisor`` for a fake), so the state machine runs in tests without processes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Collection
from typing import Protocol

import msgspec

from supervisor.policy import FailureCounter, RestartPolicy
from supervisor.states import ALIVE, ProcessState, check_transition

S = ProcessState


class ProcessSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # component name: comfyui-0, executor-0, http
    kind: str  # comfyui, executor, http, runpod: the ``process`` field of its wrapped log lines
    argv: list[str]
    env: dict[str, str] | None = None  # the whole environment of the child (None: inherit)
    cwd: str | None = None
    instance: int | None = None
    oneshot: bool = False  # runs once to its end (RunPod test input): its exit is not a failure
    port: int | None = None  # the TCP port it serves on (a spawned ComfyUI): must be free to spawn it


class Handle(Protocol):
    pid: int

    def poll(self) -> int | None:
        """The exit status once it exited (negative: killed by that signal), else None."""

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group; no error if it is gone."""


Spawner = Callable[[ProcessSpec], Handle]  # raises OSError when the child cannot be started
Listener = Callable[["ManagedProcess", ProcessState, ProcessState], None]


def describe_exit(status: int) -> str:
    if status < 0:
        try:
            return f"signal {signal.Signals(-status).name}"
        except ValueError:
            return f"signal {-status}"
    return f"exit {status}"


class ManagedProcess:
    """One child. Call ``tick()`` often; ``probe_result()`` when a readiness probe answers or fails.

    - ``probed``: becomes running only once its probe answers; killed when it stops answering for
      ``hang_timeout_s`` or never answers within ``startup_timeout_s``.
    - ``external``: nothing is spawned (an attached ComfyUI); only its probe decides its state.
    - ``restart_code``: exit statuses that ask for a planned restart (not a failure): state ``exited``
      (``last_status`` says which).
    - ``gate``: a backoff ends in a new start only while this says yes (an executor waits for its ComfyUI).
    """

    def __init__(
        self,
        spec: ProcessSpec,
        *,
        spawner: Spawner,
        clock: Callable[[], float],
        policy: RestartPolicy,
        rng: Callable[[], float] | None = None,
        stop_timeout_s: float = 10.0,
        probed: bool = False,
        external: bool = False,
        startup_timeout_s: float = 600.0,
        hang_timeout_s: float = 60.0,
        restart_code: int | Collection[int] | None = None,
        gate: Callable[[], bool] = lambda: True,
        listener: Listener | None = None,
    ) -> None:
        self.spec = spec
        self.spawner = spawner
        self.clock = clock
        self.failures = FailureCounter(policy, rng) if rng else FailureCounter(policy)
        self.stop_timeout_s = stop_timeout_s
        self.probed = probed or external
        self.external = external
        self.startup_timeout_s = startup_timeout_s
        self.hang_timeout_s = hang_timeout_s
        self.restart_codes = {restart_code} if isinstance(restart_code, int) else set(restart_code or ())
        self.gate = gate
        self.listener = listener
        self.state = S.STOPPED
        self.handle: Handle | None = None
        self.generation = 0  # bumped on every start: a probe answer for an older generation is ignored
        self.starts = 0
        self.exit_status: int | None = None  # a one-shot child's own exit status
        self.last_status: int | None = None  # the status of its last exit
        self.last_exit: str | None = None  # "exit 1", "signal SIGKILL", "hung", "spawn failed: ..."
        self.started_at = 0.0
        self.last_answer = 0.0
        self.retry_at: float | None = None
        self.kill_at: float | None = None
        self.restart_when_stopped = False
        self.kill_reason: str | None = None  # why the supervisor killed it (hung, startup timeout)

    # --- the one place the state changes --------------------------------------------------------------------

    def change_state(self, new: ProcessState) -> None:
        old = self.state
        check_transition(old, new)
        self.state = new
        if self.listener:
            self.listener(self, old, new)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.handle.pid if self.handle else None

    @property
    def restarts(self) -> int:
        return max(self.starts - 1, 0)

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    # --- commands -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """stopped | exited | backoff -> starting (-> running at once when not probed)."""
        check_transition(self.state, S.STARTING)
        self.retry_at = None
        self.kill_reason = None
        error: OSError | None = None
        if not self.external:
            try:
                self.handle = self.spawner(self.spec)  # spawned first, so that "starting" carries its pid
            except OSError as exc:
                error = exc
        self.generation += 1
        self.starts += 1
        self.started_at = self.last_answer = self.clock()
        self.change_state(S.STARTING)
        if error is not None:
            self.last_exit = f"spawn failed: {error}"
            self._failed()
        elif not self.probed:
            self.change_state(S.RUNNING)

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask it to stop: SIGTERM to its group, SIGKILL after ``timeout_s``; one not alive just stops."""
        self.restart_when_stopped = False
        if self.state in (S.BACKOFF, S.EXITED):
            self.change_state(S.STOPPED)  # backoff -> stopped, exited -> stopped
            return
        if self.state not in (S.STARTING, S.RUNNING):
            return
        self.change_state(S.STOPPING)
        if self.handle is None:  # external: nothing to signal
            self.change_state(S.STOPPED)
            return
        timeout = self.stop_timeout_s if timeout_s is None else timeout_s
        if timeout <= 0:
            self.handle.signal_group(signal.SIGKILL)
        else:
            self.handle.signal_group(signal.SIGTERM)
        self.kill_at = self.clock() + timeout

    def kill_now(self) -> None:
        """Stop at once: SIGKILL to its group."""
        if self.state is S.STOPPING and self.handle:
            self.handle.signal_group(signal.SIGKILL)
            self.kill_at = None
        else:
            self.stop(0)

    def restart(self) -> None:
        """A planned restart (REFRESH_WORKER): stop gracefully, then start at once; not a failure."""
        if self.external:
            return
        if self.state in (S.STARTING, S.RUNNING):
            self.stop()
            self.restart_when_stopped = True
        elif self.state in (S.STOPPED, S.EXITED):
            self.start()

    def probe_result(self, ok: bool, generation: int | None = None) -> None:
        """A readiness probe answered (ok) or not; ignored when it was sent to an earlier incarnation."""
        if generation is not None and generation != self.generation:
            return
        if not ok or self.state not in (S.STARTING, S.RUNNING):
            return
        self.last_answer = self.clock()
        if self.state is S.STARTING:
            self.change_state(S.RUNNING)

    # --- time passes ----------------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock()
        if self.handle is not None:
            status = self.handle.poll()
            if status is not None:
                self._exited(status)
                return
        if self.state is S.STOPPING and self.kill_at is not None and now >= self.kill_at and self.handle:
            self.handle.signal_group(signal.SIGKILL)
            self.kill_at = None
        elif self.state is S.STARTING and self.probed and now - self.started_at > self.startup_timeout_s:
            self._unresponsive("startup_timeout")
        elif self.state is S.RUNNING and self.probed and now - self.last_answer > self.hang_timeout_s:
            self._unresponsive("hung")
        elif self.state is S.BACKOFF and self.retry_at is not None and now >= self.retry_at and self.gate():
            self.start()

    def kill(self, reason: str) -> None:
        """SIGKILL its group now for ``reason`` (its port is served by a stranger); the exit counts as a failure."""
        if self.handle is not None and self.state in (S.STARTING, S.RUNNING):
            self.kill_reason = reason
            self.handle.signal_group(signal.SIGKILL)

    def _unresponsive(self, reason: str) -> None:
        if self.external:  # nothing to kill: wait for it to answer again, without counting a failure
            if self.state is S.RUNNING:
                self.last_exit = reason
                self.change_state(S.BACKOFF)  # running -> backoff
                self.retry_at = self.clock()
            else:
                self.started_at = self.clock()  # keep waiting; report the timeout once per period
                self.kill_reason = reason
            return
        if self.kill_reason is None and self.handle is not None:
            self.kill_reason = reason
            self.handle.signal_group(signal.SIGKILL)  # its exit, seen on a later tick, counts as a failure

    def _exited(self, status: int) -> None:
        if self.handle is not None:  # what it started in its group (and left behind) goes with it
            self.handle.signal_group(signal.SIGKILL)
        self.handle = None
        self.kill_at = None
        self.last_status = status
        self.last_exit = describe_exit(status) + (f" ({self.kill_reason})" if self.kill_reason else "")
        if self.state is S.STOPPING:
            self.change_state(S.STOPPED)  # stopping -> stopped
            if self.restart_when_stopped:
                self.restart_when_stopped = False
                if self.gate():  # not while the daemon drains
                    self.start()
        elif status in self.restart_codes:
            self.change_state(S.EXITED)  # running -> exited: a restart request
        elif self.spec.oneshot:
            self.exit_status = status
            self.change_state(S.EXITED)  # running -> exited: a one-shot child finished its work
        else:
            self._failed()

    def _failed(self) -> None:
        """The child exited on its own, could not be spawned, or was killed as unresponsive."""
        now = self.clock()
        self.handle = None
        delay = self.failures.record(now)
        if delay is None:
            self.change_state(S.FATAL)  # starting | running -> fatal
        else:
            self.retry_at = now + delay
            self.change_state(S.BACKOFF)  # starting | running -> backoff
