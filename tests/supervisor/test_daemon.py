"""The daemon's rules with fake processes: start order, crash recovery, refresh, drain, fatal."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from config.settings import Settings
from store import JobStatus, Store
from supervisor.daemon import Daemon, Phase
from supervisor.main import build, problem
from supervisor.states import ProcessState
from tests.supervisor.fakes import FakeClock, FakeSpawner, RecordingLog
from tests.supervisor.harness import free_ports

S = ProcessState
COMMANDS = {"http": object(), "executor": object()}


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    comfy = tmp_path / "ComfyUI"
    comfy.mkdir(exist_ok=True)
    (comfy / "main.py").write_text("")
    values = dict(http_api_mode=True, comfyui_path=str(comfy), data_dir=str(tmp_path / "data"),
                  worker_id="host", restart_backoff_max_s=4, restart_max_failures=3, restart_window_s=60,
                  stop_timeout_s=5, shutdown_grace_s=20)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class World:
    def __init__(self, tmp_path: Path, store: Store, **overrides: object) -> None:
        self.clock, self.spawner, self.log = FakeClock(), FakeSpawner(), RecordingLog()
        self.settings = settings_for(tmp_path, **overrides)
        self.store = store
        self.daemon: Daemon = build(self.settings, store, self.spawner, COMMANDS, self.log, self.clock,
                                    environ={"PATH": "/bin"})
        for proc in self.daemon.processes:  # deterministic backoff
            proc.failures.rng = lambda: 0.0

    def comfy_ready(self, i: int = 0) -> None:
        self.daemon.instances[i].comfyui.probe_result(True)
        self.daemon.step()

    def after(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.daemon.step()

    def states(self) -> dict[str, str]:
        return {c.name: c.state for c in self.store.components()}


@pytest.fixture
def world(tmp_path: Path, store: Store) -> World:
    w = World(tmp_path, store)
    w.daemon.start()
    return w


def test_comfyui_and_the_transport_start_first_and_the_executor_once_comfyui_answers(world: World) -> None:
    assert [h.spec.name for h in world.spawner.spawned] == ["comfyui-0", "http"]
    world.after(1)
    assert world.states()["executor-0"] == "stopped" if "executor-0" in world.states() else True
    world.comfy_ready()
    executor = world.spawner.last("executor-0")
    assert executor.spec.env["WORKER_ID"] == "host-0"  # type: ignore[index]
    assert executor.spec.argv[-4:] == ["--instance", "0", "--comfyui-url", "http://127.0.0.1:8188"]
    assert world.states() == {"comfyui-0": "running", "executor-0": "running", "http": "running",
                              "supervisor": "running"}


def test_comfyui_command_line_and_folders(world: World) -> None:
    argv = world.spawner.last("comfyui-0").spec.argv
    assert argv[1].endswith("ComfyUI/main.py")
    assert argv[2:6] == ["--listen", "127.0.0.1", "--port", "8188"]
    assert "--disable-auto-launch" in argv and "--output-directory" in argv
    assert world.spawner.last("comfyui-0").spec.env["CUDA_VISIBLE_DEVICES"] == "0"  # type: ignore[index]


def test_a_dead_executor_has_its_jobs_recovered_at_once_and_is_restarted(world: World) -> None:
    world.comfy_ready()
    job = world.store.create_job({"1": {}})
    world.store.claim("host-0")
    world.spawner.last("executor-0").exit(-9)
    world.daemon.step()
    assert world.store.get_job(job.id).status is JobStatus.PENDING
    assert world.log.events("jobs_recovered")[0]["jobs"] == [job.id]
    world.after(1)
    assert len(world.spawner.of("executor-0")) == 2


def test_when_comfyui_dies_its_executor_is_killed_its_job_requeued_and_both_come_back(world: World) -> None:
    world.comfy_ready()
    job = world.store.create_job({"1": {}})
    world.store.claim("host-0")
    world.spawner.last("comfyui-0").exit(-9)
    world.daemon.step()
    assert world.spawner.last("executor-0").signals == [signal.SIGKILL]
    world.daemon.step()
    assert world.store.get_job(job.id).status is JobStatus.PENDING
    world.after(1)  # comfyui's backoff
    assert len(world.spawner.of("comfyui-0")) == 2 and len(world.spawner.of("executor-0")) == 1
    world.comfy_ready()
    assert len(world.spawner.of("executor-0")) == 2


def test_a_hung_comfyui_is_killed_and_restarted(tmp_path: Path, store: Store) -> None:
    w = World(tmp_path, store, comfyui_hang_timeout_s=10)
    w.daemon.start()
    w.comfy_ready()
    w.after(11)
    assert w.spawner.last("comfyui-0").signals == [signal.SIGKILL]
    w.daemon.step()
    assert w.log.events("comfyui_hung") and w.states()["comfyui-0"] == "backoff"


def test_exit_3_restarts_comfyui_then_the_executor_without_counting_failures(world: World) -> None:
    world.comfy_ready()
    world.spawner.last("executor-0").exit(3)
    world.daemon.step()
    assert world.spawner.of("comfyui-0")[0].signals == [signal.SIGTERM]
    world.daemon.step()
    assert len(world.spawner.of("comfyui-0")) == 2  # stopped, then started again at once
    assert len(world.spawner.of("executor-0")) == 1  # waits for the new ComfyUI
    world.comfy_ready()
    assert len(world.spawner.of("executor-0")) == 2
    assert all(p.failures.recent(world.clock()) == 0 for p in world.daemon.processes)


def test_sigterm_drains_transport_then_executors_then_comfyui(world: World) -> None:
    world.comfy_ready()
    world.spawner.stubborn = False
    http, executor, comfy = (world.spawner.last(n) for n in ("http", "executor-0", "comfyui-0"))
    executor.stubborn = True
    world.daemon.begin_shutdown("signal_SIGTERM")
    assert http.signals == [signal.SIGTERM] and not executor.signals
    world.daemon.step()
    assert executor.signals == [signal.SIGTERM] and not comfy.signals
    world.after(24.9)  # the executor may finish its job within the grace period (+ stop timeout)
    assert executor.signals == [signal.SIGTERM]
    executor.exit(0)
    world.daemon.step()
    assert comfy.signals == [signal.SIGTERM]
    world.daemon.step()
    assert world.daemon.done and world.daemon.exit_code == 0
    assert world.states()["supervisor"] == "stopped"


def test_an_executor_that_ignores_sigterm_gets_sigkill_after_grace_plus_timeout(world: World) -> None:
    world.comfy_ready()
    executor = world.spawner.last("executor-0")
    executor.stubborn = True
    world.daemon.begin_shutdown("signal_SIGTERM")
    world.daemon.step()
    world.after(25.1)
    assert executor.signals == [signal.SIGTERM, signal.SIGKILL]


def test_nothing_is_restarted_while_draining(world: World) -> None:
    world.comfy_ready()
    world.spawner.last("http").stubborn = True
    world.daemon.begin_shutdown("signal_SIGTERM")
    world.spawner.last("executor-0").exit(1)
    world.after(100)
    assert len(world.spawner.of("executor-0")) == 1


def test_force_stop_kills_every_group(world: World) -> None:
    world.comfy_ready()
    world.daemon.begin_shutdown("signal_SIGINT")
    world.daemon.force_stop()
    world.daemon.step()
    assert all(signal.SIGKILL in h.signals for h in world.spawner.spawned)
    assert world.daemon.done and world.daemon.exit_code == 130


def test_a_fatal_child_drains_the_daemon_and_exits_non_zero(world: World) -> None:
    world.comfy_ready()
    for _ in range(3):
        world.spawner.last("http").exit(1)
        world.daemon.step()
        world.after(10)
    assert world.states()["http"] == "fatal"
    assert world.daemon.phase is not Phase.RUNNING
    for _ in range(3):
        world.daemon.step()
    assert world.daemon.done and world.daemon.exit_code == 1
    assert world.log.events("child_fatal")


def test_start_recovers_only_this_hosts_workers(tmp_path: Path, store: Store) -> None:
    mine, other = store.create_job({}), store.create_job({})
    store.claim("host-0")
    store.claim("elsewhere-0")
    w = World(tmp_path, store)
    w.daemon.start()
    assert store.get_job(mine.id).status is JobStatus.PENDING
    assert store.get_job(other.id).status is JobStatus.RUNNING


def test_two_instances_get_consecutive_ports_own_gpus_and_worker_ids(tmp_path: Path, store: Store) -> None:
    w = World(tmp_path, store, comfyui_instances=2, comfyui_gpu_ids="3,5")
    w.daemon.start()
    w.comfy_ready(0)
    w.comfy_ready(1)
    specs = [w.spawner.last(f"comfyui-{i}").spec for i in range(2)]
    assert [s.argv[5] for s in specs] == ["8188", "8189"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in specs] == ["3", "5"]  # type: ignore[index]
    assert [w.spawner.last(f"executor-{i}").spec.env["WORKER_ID"] for i in range(2)] == ["host-0", "host-1"]


def test_an_attached_comfyui_spawns_nothing_but_is_probed(tmp_path: Path, store: Store) -> None:
    w = World(tmp_path, store, comfyui_path=None, comfyui_url="http://gpu:8188/")
    w.daemon.start()
    assert [h.spec.name for h in w.spawner.spawned] == ["http"]
    w.comfy_ready()
    assert w.spawner.last("executor-0").spec.argv[-1] == "http://gpu:8188"
    assert "COMFYUI_OUTPUT_DIR" not in w.spawner.last("executor-0").spec.env  # type: ignore[operator]


def test_settings_problems_are_one_line_each(tmp_path: Path) -> None:
    assert "COMFYUI_PATH" in problem(Settings(http_api_mode=True), COMMANDS)  # type: ignore[operator]
    assert "transport" in problem(settings_for(tmp_path, http_api_mode=False), COMMANDS)  # type: ignore[operator]
    assert problem(settings_for(tmp_path, http_api_mode=False), {**COMMANDS, "runpod": 1}) is None
    assert "main.py" in problem(Settings(http_api_mode=True, comfyui_path=str(tmp_path / "x")),  # type: ignore[operator]
                                COMMANDS)
    assert problem(settings_for(tmp_path, comfyui_port=free_ports()), COMMANDS) is None


def test_a_comfyui_port_in_use_is_a_one_line_problem_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        why = problem(settings_for(tmp_path, comfyui_port=port - 1, comfyui_instances=2), COMMANDS)
    assert why is not None and "\n" not in why
    assert why.startswith(f"COMFYUI_PORT={port - 1} (instance 1): port {port} on 127.0.0.1 is already in use")
    assert problem(settings_for(tmp_path, comfyui_path=None, comfyui_url=f"http://127.0.0.1:{port}"),
                   COMMANDS) is None  # attached: nothing is spawned there


def test_a_stranger_on_comfyuis_port_stops_its_executor_at_once_and_kills_it(world: World) -> None:
    world.comfy_ready()
    inst = world.daemon.instances[0]
    comfy, executor = world.spawner.last("comfyui-0"), world.spawner.last("executor-0")
    world.daemon.comfyui_not_ours(inst, inst.comfyui.generation - 1, "pid 1 (old)")  # an older incarnation's
    assert executor.signals == [] and comfy.signals == []
    world.daemon.comfyui_not_ours(inst, inst.comfyui.generation, "pid 7 (nc -l)")
    world.daemon.comfyui_not_ours(inst, inst.comfyui.generation, "pid 7 (nc -l)")  # the next probe: once
    assert executor.signals == [signal.SIGKILL] and comfy.signals == [signal.SIGKILL]
    [taken] = world.log.events("comfyui_port_taken")
    assert (taken["port"], taken["holder"]) == (8188, "pid 7 (nc -l)")
    world.after(0)
    assert world.states()["comfyui-0"] == "backoff" and "port_taken" in str(inst.comfyui.last_exit)
    assert world.states()["executor-0"] in ("stopped", "backoff")


@pytest.mark.parametrize(("status", "exit_code"), [(0, 0), (1, 1)])
def test_runpod_test_input_mode_runs_once_then_the_daemon_stops_with_its_verdict(
        tmp_path: Path, store: Store, status: int, exit_code: int) -> None:
    w = World(tmp_path, store, http_api_mode=False)
    w.daemon = build(w.settings, store, w.spawner, {"runpod": object(), "executor": object()}, w.log, w.clock,
                     environ={"PATH": "/bin"})
    w.daemon.start()
    w.comfy_ready()
    transport = w.spawner.last("runpod")
    assert transport.spec.oneshot
    transport.exit(status)
    w.after(0.1)
    assert w.daemon.phase is not Phase.RUNNING and w.daemon.exit_code == exit_code
    assert len(w.spawner.of("runpod")) == 1  # not restarted


def test_runpod_transport_is_long_lived_when_serving_locally_or_on_the_platform(tmp_path: Path) -> None:
    from supervisor.children import transport_spec

    local = settings_for(tmp_path, http_api_mode=False, serve_api_locally=True)
    platform = settings_for(tmp_path, http_api_mode=False)
    commands = {"runpod": object()}
    assert not transport_spec(local, {}, commands).oneshot  # type: ignore[union-attr]
    assert not transport_spec(platform, {"RUNPOD_WEBHOOK_GET_JOB": "https://x"}, commands).oneshot  # type: ignore[union-attr]
    assert transport_spec(platform, {}, commands).oneshot  # type: ignore[union-attr]


def test_a_refresh_pending_when_the_drain_starts_does_not_start_a_new_comfyui(world: World) -> None:
    world.comfy_ready()
    comfy = world.spawner.last("comfyui-0")
    comfy.stubborn = True  # still stopping for the refresh when SIGTERM arrives
    world.spawner.last("executor-0").exit(3)
    world.daemon.step()
    assert comfy.signals == [signal.SIGTERM]
    world.daemon.begin_shutdown("signal_SIGTERM")
    comfy.exit(0)
    for _ in range(3):
        world.after(0.1)
    assert len(world.spawner.of("comfyui-0")) == 1
    assert world.daemon.done and world.daemon.exit_code == 0


def test_an_executor_asking_for_a_refresh_while_the_transport_drains_does_not_restart_comfyui(
        world: World) -> None:
    world.comfy_ready()
    world.spawner.last("http").stubborn = True  # the transport takes a while to drain
    world.daemon.begin_shutdown("signal_SIGTERM")
    world.spawner.last("executor-0").exit(3)
    for _ in range(3):
        world.after(0.1)
    assert len(world.spawner.of("comfyui-0")) == 1
    world.after(6)  # the transport gets SIGKILL after STOP_TIMEOUT_S; the drain goes on
    for _ in range(3):
        world.after(0.1)
    assert len(world.spawner.of("comfyui-0")) == 1
    assert world.daemon.done


def test_a_data_dir_that_cannot_be_created_is_a_one_line_problem_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    why = problem(settings_for(tmp_path, data_dir=str(tmp_path / "a-file" / "data")), COMMANDS)
    assert why is not None and "DATA_DIR" in why and "\n" not in why


def test_overflow_without_a_policy_is_a_one_line_problem(tmp_path: Path) -> None:
    why = problem(settings_for(tmp_path, runpod_overflow_endpoint_id="ep", comfyui_port=free_ports()), COMMANDS)
    assert why is not None and "RUNPOD_OVERFLOW_QUEUE_DEPTH" in why and "\n" not in why
    assert problem(settings_for(tmp_path, runpod_overflow_endpoint_id="ep", runpod_overflow_wait_s=30,
                                comfyui_port=free_ports()), COMMANDS) is None


def test_the_forwarder_starts_with_overflow_set_and_a_dead_one_keeps_its_jobs_for_the_next(
        tmp_path: Path, store: Store) -> None:
    """Its jobs may be on RunPod: never requeued by worker id (a local run would run them twice); the restarted
    forwarder resumes them by their remote id."""
    assert "forwarder" not in [p.spec.name for p in World(tmp_path, store).daemon.processes]  # default: none
    w = World(tmp_path, store, runpod_overflow_endpoint_id="ep", runpod_overflow_queue_depth=0)
    w.daemon.start()
    forwarder = w.spawner.last("forwarder")
    assert forwarder.spec.argv[-1] == "forwarder" and forwarder.spec.env["WORKER_ID"] == "host-runpod"  # type: ignore[index]
    w.comfy_ready()
    assert w.states()["forwarder"] == "running"
    job = store.create_job({"1": {}})
    assert store.claim_remote("host-runpod", queue_depth=0, wait_s=None) is not None
    forwarder.exit(-9)
    w.daemon.step()
    assert store.get_job(job.id).status is JobStatus.RUNNING and not w.log.events("jobs_recovered")
    w.after(1)
    assert len(w.spawner.of("forwarder")) == 2
