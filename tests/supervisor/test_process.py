"""ManagedProcess: its states, restarts, hang detection and stop, with a fake clock and fake spawner."""

from __future__ import annotations

import signal

from supervisor.policy import RestartPolicy
from supervisor.process import ManagedProcess, ProcessSpec
from supervisor.states import ProcessState
from tests.supervisor.fakes import FakeClock, FakeSpawner

S = ProcessState


def make(clock: FakeClock, spawner: FakeSpawner, **kwargs: object) -> tuple[ManagedProcess, list]:
    changes: list[tuple[str, str]] = []
    policy = kwargs.pop("policy", RestartPolicy(base_s=1, max_s=8, jitter=0.0, max_failures=4, window_s=100))
    proc = ManagedProcess(
        ProcessSpec(name="x", kind="executor", argv=["x"]), spawner=spawner, clock=clock, policy=policy,
        listener=lambda p, old, new: changes.append((str(old), str(new))), **kwargs)  # type: ignore[arg-type]
    return proc, changes


def test_a_process_without_probe_runs_once_spawned() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, changes = make(clock, spawner)
    proc.start()
    assert proc.state is S.RUNNING and proc.pid == spawner.last("x").pid
    assert changes == [("stopped", "starting"), ("starting", "running")]


def test_a_crash_leads_to_backoff_then_a_restart_after_the_delay() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = make(clock, spawner)
    proc.start()
    spawner.last("x").exit(1)
    proc.tick()
    assert proc.state is S.BACKOFF and proc.last_exit == "exit 1"
    clock.advance(0.99)
    proc.tick()
    assert proc.state is S.BACKOFF
    clock.advance(0.02)
    proc.tick()
    assert proc.state is S.RUNNING and proc.restarts == 1 and len(spawner.spawned) == 2


def test_the_backoff_doubles_with_each_crash() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = make(clock, spawner)
    proc.start()
    delays = []
    for _ in range(3):
        spawner.last("x").exit(1)
        proc.tick()
        delays.append(proc.retry_at - clock())  # type: ignore[operator]
        clock.advance(delays[-1])
        proc.tick()
    assert delays == [1, 2, 4]


def test_too_many_failures_in_the_window_is_fatal_and_never_restarted() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, changes = make(clock, spawner)
    proc.start()
    for _ in range(4):
        spawner.last("x").exit(1)
        proc.tick()
        clock.advance(10)
        proc.tick()
    assert proc.state is S.FATAL and ("running", "fatal") in changes
    clock.advance(1000)
    proc.tick()
    assert proc.state is S.FATAL and len(spawner.spawned) == 4


def test_a_spawn_failure_counts_as_a_failure() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    spawner.fail_next = 1
    proc, changes = make(clock, spawner)
    proc.start()
    assert proc.state is S.BACKOFF and proc.last_exit.startswith("spawn failed")  # type: ignore[union-attr]
    assert changes == [("stopped", "starting"), ("starting", "backoff")]


def test_the_gate_holds_a_restart_back() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    open_ = [False]
    proc, _ = make(clock, spawner, gate=lambda: open_[0])
    proc.start()
    spawner.last("x").exit(1)
    proc.tick()
    clock.advance(60)
    proc.tick()
    assert proc.state is S.BACKOFF
    open_[0] = True
    proc.tick()
    assert proc.state is S.RUNNING


def test_the_refresh_exit_code_is_an_exit_not_a_failure() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, changes = make(clock, spawner, restart_code=3)
    proc.start()
    spawner.last("x").exit(3)
    proc.tick()
    assert proc.state is S.EXITED and proc.failures.recent(clock()) == 0
    assert changes[-1] == ("running", "exited")


def test_stop_sends_sigterm_then_sigkill_after_the_timeout() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    spawner.stubborn = True
    proc, _ = make(clock, spawner, stop_timeout_s=5)
    proc.start()
    proc.stop()
    handle = spawner.last("x")
    assert proc.state is S.STOPPING and handle.signals == [signal.SIGTERM]
    clock.advance(4.9)
    proc.tick()
    assert handle.signals == [signal.SIGTERM]
    clock.advance(0.2)
    proc.tick()
    assert handle.signals == [signal.SIGTERM, signal.SIGKILL]
    proc.tick()
    assert proc.state is S.STOPPED and proc.failures.recent(clock()) == 0


def test_stop_during_backoff_stops_without_signals() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, changes = make(clock, spawner)
    proc.start()
    spawner.last("x").exit(1)
    proc.tick()
    proc.stop()
    assert proc.state is S.STOPPED and changes[-1] == ("backoff", "stopped")


def probed(clock: FakeClock, spawner: FakeSpawner, **kwargs: object) -> tuple[ManagedProcess, list]:
    return make(clock, spawner, probed=True, startup_timeout_s=30, hang_timeout_s=10, **kwargs)


def test_a_probed_process_runs_only_once_its_probe_answers() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = probed(clock, spawner)
    proc.start()
    proc.probe_result(False)
    assert proc.state is S.STARTING
    proc.probe_result(True)
    assert proc.state is S.RUNNING


def test_a_probe_answer_for_an_earlier_incarnation_is_ignored() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = probed(clock, spawner)
    proc.start()
    old = proc.generation
    spawner.last("x").exit(1)
    proc.tick()
    clock.advance(5)
    proc.tick()
    proc.probe_result(True, old)
    assert proc.state is S.STARTING


def test_no_answer_within_the_startup_timeout_kills_it_as_a_failure() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = probed(clock, spawner)
    proc.start()
    clock.advance(31)
    proc.tick()
    assert spawner.last("x").signals == [signal.SIGKILL]
    proc.tick()
    assert proc.state is S.BACKOFF and "startup_timeout" in proc.last_exit  # type: ignore[operator]


def test_a_running_process_silent_for_the_hang_timeout_is_killed_and_restarted() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = probed(clock, spawner)
    proc.start()
    proc.probe_result(True)
    for _ in range(5):  # answering keeps it alive
        clock.advance(5)
        proc.probe_result(True)
        proc.tick()
    assert proc.state is S.RUNNING
    clock.advance(10.5)
    proc.tick()
    assert spawner.last("x").signals == [signal.SIGKILL]
    proc.tick()
    assert proc.state is S.BACKOFF and proc.last_exit == "signal SIGKILL (hung)"
    clock.advance(1)
    proc.tick()
    assert proc.state is S.STARTING and len(spawner.spawned) == 2


def test_a_planned_restart_stops_then_starts_at_once_without_counting_a_failure() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, changes = probed(clock, spawner)
    proc.start()
    proc.probe_result(True)
    proc.restart()
    proc.tick()
    assert changes[-3:] == [("running", "stopping"), ("stopping", "stopped"), ("stopped", "starting")]
    assert proc.failures.recent(clock()) == 0 and len(spawner.spawned) == 2


def test_an_attached_process_spawns_nothing_and_waits_again_when_it_stops_answering() -> None:
    clock, spawner = FakeClock(), FakeSpawner()
    proc, _ = probed(clock, spawner, external=True)
    proc.start()
    proc.probe_result(True)
    assert proc.state is S.RUNNING and not spawner.spawned
    clock.advance(11)
    proc.tick()
    assert proc.state is S.BACKOFF
    proc.tick()
    assert proc.state is S.STARTING and proc.failures.recent(clock()) == 0
    clock.advance(100)
    proc.tick()
    assert proc.state is S.STARTING  # never fatal: nothing of ours to restart
