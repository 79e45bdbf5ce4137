"""The supervisor's decisions: which child starts when, what a crash costs, and how the daemon drains.

``Daemon.step()`` is synchronous and driven by the injected clock, so these rules are tested with fake
processes; ``loop.py`` runs it on asyncio with real processes, probes, signals and maintenance.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from store import Store
from supervisor.children import EXIT_RESTART
from supervisor.process import ManagedProcess
from supervisor.states import ALIVE, ProcessState

S = ProcessState


class Instance(msgspec.Struct, kw_only=True):
    """One ComfyUI (spawned or attached) and the executor that feeds it."""

    index: int
    url: str
    worker_id: str
    comfyui: ManagedProcess
    executor: ManagedProcess


class Phase(enum.StrEnum):
    RUNNING = "running"
    STOP_TRANSPORT = "stop_transport"  # new requests refused first
    STOP_EXECUTORS = "stop_executors"  # running jobs finish within the grace period, or are requeued
    STOP_COMFYUI = "stop_comfyui"  # ComfyUI stops last
    FORCED = "forced"  # second SIGINT: SIGKILL to every group
    DONE = "done"


EXIT_FATAL = 1
EXIT_FORCED = 130
COMPONENT_RETRY_S = 2.0  # component states a full (or failing) store refused are written again this often


HELPER_CHECK_S = 1.0  # how often a dormant helper is asked whether it is wanted


class Helper(NamedTuple):
    """A child that needs only the store, started once ``wanted()`` (e.g. the webhook deliverer: once a
    delivery waits, or WEBHOOK_URL gives every job one)."""

    process: ManagedProcess
    wanted: Callable[[], bool]


class Daemon:
    def __init__(self, store: Store, instances: list[Instance], transport: ManagedProcess | None, *,
                 log: Any, stop_timeout_s: float, shutdown_grace_s: float,
                 clock: Callable[[], float] = time.monotonic, helpers: list[Helper] | None = None,
                 forwarder: ManagedProcess | None = None) -> None:
        self.store = store
        self.clock = clock
        self.unwritten: dict[str, dict[str, Any]] = {}  # component -> its latest state the store refused
        self.retry_components_at: float | None = None  # set while the store refuses component writes
        self.instances = instances
        self.transport = transport
        # children that need only the store (the webhook deliverer), each started once it is wanted: stopped last
        self.dormant = list(helpers or [])
        self.helpers: list[ManagedProcess] = []  # the started ones
        self.next_wanted_check = 0.0
        # the overflow forwarder (RUNPOD_OVERFLOW_ENDPOINT_ID): stopped with the executors; its jobs are never
        # recovered here (they may run on RunPod): the next forwarder resumes them by their remote id
        self.forwarder = forwarder
        self.log = log
        self.stop_timeout_s = stop_timeout_s
        self.shutdown_grace_s = shutdown_grace_s
        self.phase = Phase.RUNNING
        self.exit_code = 0
        self.events: list[tuple[ManagedProcess, ProcessState, ProcessState]] = []
        self.by_executor = {i.executor.name: i for i in instances}
        for proc in self.processes + [helper.process for helper in self.dormant]:
            proc.listener = self._record
            if proc is not self.transport:
                proc.gate = self._gate_for(proc)
        if transport:
            transport.gate = self.accepting

    @property
    def processes(self) -> list[ManagedProcess]:
        procs = [p for i in self.instances for p in (i.comfyui, i.executor)]
        return (procs + ([self.transport] if self.transport else []) + ([self.forwarder] if self.forwarder else [])
                + self.helpers)

    def accepting(self) -> bool:
        return self.phase is Phase.RUNNING

    def _gate_for(self, proc: ManagedProcess) -> Any:
        inst = self.by_executor.get(proc.name)
        if inst is None:
            return self.accepting
        return lambda: self.accepting() and inst.comfyui.state is S.RUNNING

    def _record(self, proc: ManagedProcess, old: ProcessState, new: ProcessState) -> None:
        self.events.append((proc, old, new))

    # --- start ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what this host's executors left running, then start ComfyUI and the transport."""
        try:
            self.store.clear_components()
            self.store.clear_warmups()  # the last run's: every ComfyUI starts (and warms up) again
        except Exception as exc:  # a full disk: the rows are overwritten below, or when it has room again
            self.log.warning("component_write_deferred", error=repr(exc))
        self._set_component("supervisor", "running", pid=os.getpid())
        for inst in self.instances:
            self._recover(inst, "supervisor_restart")
        for inst in self.instances:
            inst.comfyui.start()
        if self.transport:
            self.transport.start()
        if self.forwarder:
            self.forwarder.start()
        self._wake_helpers()
        self._handle_events()

    def _wake_helpers(self) -> None:
        """Start each dormant helper whose ``wanted()`` says so (a read of the store; asked every
        HELPER_CHECK_S): the webhook deliverer costs its memory and wake-ups only once some job has a webhook."""
        self.next_wanted_check = self.clock() + HELPER_CHECK_S
        for helper in list(self.dormant):
            try:
                wanted = helper.wanted()
            except Exception as exc:  # an unreadable store: asked again next time
                self.log.warning("helper_check_failed", helper=helper.process.name, error=repr(exc))
                continue
            if wanted:
                self.dormant.remove(helper)
                self.helpers.append(helper.process)
                self.log.info("helper_started", helper=helper.process.name)
                helper.process.start()

    # --- one step of the loop ------------------------------------------------------------------------------

    def step(self) -> None:
        if self.unwritten and self.clock() >= (self.retry_components_at or 0.0):
            self._write_components()
        for proc in self.processes:
            proc.tick()
        self._handle_events()
        if self.phase is Phase.RUNNING:
            self._reconcile()
            if self.dormant and self.clock() >= self.next_wanted_check:
                self._wake_helpers()
        else:
            self._keep_executors_with_comfyui()
            self._advance_shutdown()
        self._handle_events()

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def _handle_events(self) -> None:
        while self.events:
            proc, old, new = self.events.pop(0)
            self._report(proc, old, new)
            inst = self.by_executor.get(proc.name)
            if proc.spec.kind == "comfyui" and proc.spec.instance is not None and old is S.RUNNING:
                self._reset_warmup(proc.spec.instance)
            if inst and old in ALIVE and new not in ALIVE:
                self._recover(inst, f"executor_{new}")
            if proc is self.transport and new is S.EXITED:  # a one-shot transport ran its test input
                self.begin_shutdown("transport_finished", 1 if proc.exit_status else 0)
            if inst and new is S.EXITED and self.accepting():  # the executor asks for a fresh ComfyUI
                self._restart_comfyui(inst, proc.last_status)
            if new is S.FATAL:
                self.begin_shutdown("child_fatal", EXIT_FATAL)

    def _restart_comfyui(self, inst: Instance, status: int | None) -> None:
        """REFRESH_WORKER after a job (exit 3), or the executor's watchdog (exit 4: a prompt that ignored its
        interrupt, a ComfyUI silent under a job, memory over its limit): the executor has already ended or
        released its jobs. An attached ComfyUI cannot be restarted: its executor just starts again."""
        if status == EXIT_RESTART:
            self.log.warning("comfyui_restart", instance=inst.index, reason="executor_watchdog",
                             restartable=not inst.comfyui.external)
        else:
            self.log.info("comfyui_refresh", instance=inst.index)
        if status != EXIT_RESTART or inst.comfyui.state is S.RUNNING:  # not one the supervisor already restarts
            inst.comfyui.restart()

    def _reset_warmup(self, instance: int) -> None:
        """This ComfyUI stopped running: its warm-up no longer counts (/ready) until its executor runs a new one."""
        try:
            self.store.warmup_reset(instance)
        except Exception as exc:  # a full disk: /ready may call it warm until the next warm-up's row
            self.log.warning("warmup_reset_failed", instance=instance, error=repr(exc))

    def _set_component(self, name: str, state: str, **fields: Any) -> None:
        """Record a component's state; a store that refuses (a full disk) gets it again every
        COMPONENT_RETRY_S, latest state only, and supervising goes on meanwhile."""
        self.unwritten[name] = {"state": state, **fields}
        if self.retry_components_at is None or self.clock() >= self.retry_components_at:
            self._write_components()

    def _write_components(self) -> None:
        for name, fields in list(self.unwritten.items()):
            try:
                self.store.set_component(name, **fields)
            except Exception as exc:  # /health shows an older state for a while
                if self.retry_components_at is None:
                    self.log.warning("component_write_deferred", child=name, error=repr(exc),
                                     retry_in_s=COMPONENT_RETRY_S)
                self.retry_components_at = self.clock() + COMPONENT_RETRY_S
                return
            del self.unwritten[name]
        if self.retry_components_at is not None:
            self.log.info("component_writes_resumed")
        self.retry_components_at = None

    def _report(self, proc: ManagedProcess, old: ProcessState, new: ProcessState) -> None:
        self._set_component(proc.name, str(new), pid=proc.pid, restarts=proc.restarts,
                            detail=f"last exit: {proc.last_exit}" if proc.last_exit else None)
        fields = {"child": proc.name, "child_pid": proc.pid, "state": str(new), "previous": str(old),
                  "restarts": proc.restarts}
        if new is S.STARTING:
            self.log.info("child_started", argv=proc.spec.argv, **fields)
        elif new is S.RUNNING and proc.spec.kind == "comfyui":
            self.log.info("comfyui_ready", instance=proc.spec.instance, **fields)
        elif new is S.FATAL:
            self.log.error("child_fatal", last_exit=proc.last_exit, **fields)
        elif old in ALIVE and new not in ALIVE:
            if proc.kill_reason == "hung":
                self.log.error("comfyui_hung", instance=proc.spec.instance, **fields)
            level = "info" if new in (S.STOPPED, S.EXITED) else "warning"
            retry = {"retry_in_s": round(proc.retry_at - proc.clock(), 3)} if proc.retry_at else {}
            getattr(self.log, level)("child_exited", last_exit=proc.last_exit, **fields, **retry)
        else:
            self.log.debug("child_state", **fields)

    def _recover(self, inst: Instance, reason: str) -> None:
        try:
            recovered = self.store.recover_worker(inst.worker_id)
        except Exception as exc:  # the stale-heartbeat recovery will requeue them
            self.log.error("recovery_failed", worker_id=inst.worker_id, error=repr(exc))
            return
        if recovered:
            self.log.warning("jobs_recovered", reason=reason, worker_id=inst.worker_id,
                             jobs=[r.id for r in recovered], statuses=[str(r.status) for r in recovered])

    def comfyui_not_ours(self, inst: Instance, generation: int, holder: str | None) -> None:
        """A stranger serves this spawned ComfyUI's port: its executor is stopped at once (no upload, prompt or key
        goes there) and the child is killed; that counts as a failure, its restart is refused while the port
        stays taken, and the daemon gives up (fatal) when it never frees."""
        proc = inst.comfyui
        if generation != proc.generation or proc.kill_reason == "port_taken" or not proc.alive:
            return
        self.log.error("comfyui_port_taken", instance=inst.index, port=proc.spec.port, holder=holder,
                       child=proc.name, child_pid=proc.pid)
        if inst.executor.state in (S.STARTING, S.RUNNING):
            inst.executor.kill_now()
        proc.kill("port_taken")

    def _keep_executors_with_comfyui(self) -> None:
        """An executor whose ComfyUI is not running is stopped at once (its jobs are recovered)."""
        for inst in self.instances:
            if inst.comfyui.state is not S.RUNNING and inst.executor.state in (S.STARTING, S.RUNNING):
                self.log.warning("executor_stopped", instance=inst.index,
                                 reason=f"comfyui_{inst.comfyui.state}")
                inst.executor.kill_now()

    def _reconcile(self) -> None:
        self._keep_executors_with_comfyui()
        for inst in self.instances:
            if inst.comfyui.state is S.RUNNING and inst.executor.state in (S.STOPPED, S.EXITED):
                inst.executor.start()

    # --- stop ----------------------------------------------------------------------------------------------

    def begin_shutdown(self, reason: str, exit_code: int = 0) -> None:
        self.exit_code = max(self.exit_code, exit_code)
        if self.phase is not Phase.RUNNING:
            return
        self.log.info("shutdown_started", reason=reason, exit_code=self.exit_code)
        self._set_component("supervisor", "stopping", pid=os.getpid())
        self.phase = Phase.STOP_TRANSPORT
        if self.transport:
            self.transport.stop(self.stop_timeout_s)
        self._advance_shutdown()

    def force_stop(self) -> None:
        """Second SIGINT: SIGKILL to every child's group now."""
        self.log.warning("shutdown_forced")
        self.exit_code = max(self.exit_code, EXIT_FORCED)
        self.phase = Phase.FORCED
        for proc in self.processes:
            if proc.alive:
                proc.kill_now()
            else:
                proc.stop()
        self._handle_events()

    def _advance_shutdown(self) -> None:
        if self.phase is Phase.STOP_TRANSPORT and not (self.transport and self.transport.alive):
            self.phase = Phase.STOP_EXECUTORS
            for inst in self.instances:
                inst.executor.stop(self.shutdown_grace_s + self.stop_timeout_s)
            if self.forwarder:
                self.forwarder.stop(self.shutdown_grace_s + self.stop_timeout_s)
        if self.phase is Phase.STOP_EXECUTORS and not any(i.executor.alive for i in self.instances) \
                and not (self.forwarder and self.forwarder.alive):
            self.phase = Phase.STOP_COMFYUI
            for inst in self.instances:
                inst.comfyui.stop(self.stop_timeout_s)
            for helper in self.helpers:  # what the executors' last transitions wrote is delivered meanwhile
                helper.stop(self.stop_timeout_s)
        if self.phase in (Phase.STOP_COMFYUI, Phase.FORCED) and not any(p.alive for p in self.processes):
            for proc in self.processes:
                if proc.state in (S.BACKOFF, S.EXITED):
                    proc.stop()
            self.phase = Phase.DONE
            final = "fatal" if self.exit_code == EXIT_FATAL else "stopped"
            self._set_component("supervisor", final, pid=os.getpid())
            self.log.info("shutdown_complete", exit_code=self.exit_code)
