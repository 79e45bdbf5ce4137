"""Signals are only recorded by their handler; the loop acts on them."""

from __future__ import annotations

import io
import signal

from supervisor.logrelay import LogRelay
from supervisor.loop import Loop
from tests.supervisor.fakes import FakeClock, RecordingLog


class FakeDaemon:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.instances: list[object] = []
        self.processes: list[object] = []  # no managed children: SIGCHLD only reaps orphans

    def begin_shutdown(self, reason: str, exit_code: int = 0) -> None:
        self.calls.append(f"shutdown:{reason}")

    def force_stop(self) -> None:
        self.calls.append("force")


CLOCK = FakeClock()


def make() -> tuple[Loop, FakeDaemon]:
    daemon = FakeDaemon()
    loop = Loop(daemon, relay=LogRelay(io.BytesIO()), maintenance=None, clock=CLOCK,  # type: ignore[arg-type]
                probe_interval_s=1, hang_timeout_s=10, log=RecordingLog())
    return loop, daemon


def test_the_handler_only_records_the_signal() -> None:
    loop, daemon = make()
    loop._record_signal(signal.SIGTERM)
    assert daemon.calls == [] and loop.received == [signal.SIGTERM] and loop.wake.is_set()


def test_the_first_signal_drains_and_a_second_sigint_forces() -> None:
    loop, daemon = make()
    loop._record_signal(signal.SIGINT)
    loop._act_on_signals()
    CLOCK.advance(1)
    loop._record_signal(signal.SIGINT)
    loop._act_on_signals()
    assert daemon.calls == ["shutdown:signal_SIGINT", "force"]


def test_a_sigint_right_after_the_first_is_the_same_ctrl_c_delivered_twice() -> None:
    loop, daemon = make()
    loop._record_signal(signal.SIGINT)
    loop._record_signal(signal.SIGINT)
    loop._act_on_signals()
    assert "force" not in daemon.calls


def test_a_second_sigterm_does_not_force_and_sigchld_only_wakes() -> None:
    loop, daemon = make()
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGTERM):
        loop._record_signal(sig)
    loop._act_on_signals()
    assert daemon.calls == ["shutdown:signal_SIGTERM", "shutdown:signal_SIGTERM"]
