"""The supervisor's loop on asyncio: signals recorded then acted on, probes, maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any

from supervisor import ports
from supervisor.comfyui import Probe, probe_child
from supervisor.daemon import EXIT_FATAL, Daemon, Instance
from supervisor.logrelay import LogRelay
from supervisor.maintenance import Maintenance
from supervisor.reaper import reap_orphans
from supervisor.states import ProcessState

S = ProcessState
# a SIGINT this soon after the first signal is the same Ctrl-C delivered twice (terminal + `uv run`)
DUPLICATE_SIGNAL_S = 0.5
STARTUP_PROBE_S = 0.25  # while ComfyUI starts, probe at least this often (its answer gates the executor)


class Loop:
    def __init__(self, daemon: Daemon, *, relay: LogRelay, maintenance: Maintenance | None,
                 clock: Callable[[], float], probe_interval_s: float, hang_timeout_s: float, log: Any,
                 tick_s: float = 0.1) -> None:
        self.daemon = daemon
        self.relay = relay
        self.maintenance = maintenance
        self.clock = clock
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = max(1.0, min(5.0, hang_timeout_s / 2))
        self.log = log
        self.tick_s = tick_s
        self.received: list[int] = []
        self.first_signal_at: float | None = None
        self.wake = asyncio.Event()
        self.next_probe: dict[str, float] = {}
        self.probing: dict[str, asyncio.Task[None]] = {}
        self.unverified_warned = False

    def _record_signal(self, sig: int) -> None:
        """The signal handler: only records the signal and wakes the loop."""
        self.received.append(sig)
        self.wake.set()

    def _act_on_signals(self) -> None:
        while self.received:
            sig = self.received.pop(0)
            if sig == signal.SIGCHLD:
                managed = {p.handle.pid for p in self.daemon.processes if p.handle is not None}
                if orphans := reap_orphans(managed):
                    self.log.debug("orphans_reaped", pids=orphans)
                continue
            now = self.clock()
            self.log.info("signal_received", signal=signal.Signals(sig).name)
            if sig == signal.SIGINT and self.first_signal_at is not None and \
                    now - self.first_signal_at >= DUPLICATE_SIGNAL_S:
                self.daemon.force_stop()
            else:
                if self.first_signal_at is None:
                    self.first_signal_at = now
                self.daemon.begin_shutdown(f"signal_{signal.Signals(sig).name}")

    def _schedule_probes(self) -> None:
        now = self.clock()
        for inst in self.daemon.instances:
            proc = inst.comfyui
            if proc.state not in (S.STARTING, S.RUNNING) or proc.name in self.probing:
                continue
            if now < self.next_probe.get(proc.name, 0.0):
                continue
            interval = self.probe_interval_s if proc.state is S.RUNNING else min(self.probe_interval_s,
                                                                                  STARTUP_PROBE_S)
            self.next_probe[proc.name] = now + interval
            self.probing[proc.name] = asyncio.create_task(self._probe(inst, proc.generation))

    async def _probe(self, inst: Instance, generation: int) -> None:
        """Readiness of a ComfyUI; for a spawned one, only once the server on its port is our child's."""
        proc = inst.comfyui
        try:
            verdict, owner = await probe_child(inst.url, proc.spec.port, proc.pid, self.probe_timeout_s)
            if verdict is Probe.STRANGER and proc.spec.port is not None:
                holder = await asyncio.to_thread(ports.holder, proc.spec.port)
                self.daemon.comfyui_not_ours(inst, generation, holder)
                return
            if owner is ports.Owner.UNKNOWN and not self.unverified_warned:
                self.unverified_warned = True
                self.log.warning("comfyui_owner_unverified", reason="no /proc: cannot tell who serves the port")
            proc.probe_result(verdict is Probe.READY, generation)
        finally:
            self.probing.pop(inst.comfyui.name, None)
            self.wake.set()

    async def _supervise(self) -> None:
        self.daemon.start()
        while not self.daemon.done:
            self._act_on_signals()
            self.daemon.step()
            if self.daemon.done:
                break
            self._schedule_probes()
            if self.maintenance and self.daemon.accepting():
                self.maintenance.poll()
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.tick_s)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            loop.add_signal_handler(sig, self._record_signal, sig)
        try:
            await self._supervise()
            for task in list(self.probing.values()):
                task.cancel()
        except Exception:  # a bug of ours: take every child down with us rather than leave it unsupervised
            self.log.exception("supervisor_failed")
            for proc in self.daemon.processes:
                if proc.handle is not None:
                    proc.handle.signal_group(signal.SIGKILL)
            return EXIT_FATAL
        finally:
            self.relay.drain()
            if self.maintenance:
                self.maintenance.close()
        return self.daemon.exit_code
