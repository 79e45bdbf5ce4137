"""The daemon's rule for the executor's watchdog (exit 4), with fake processes."""

from __future__ import annotations

import signal
from pathlib import Path

from store import Store
from tests.supervisor.test_daemon import World


def test_exit_4_restarts_a_running_comfyui_then_the_executor_without_counting_failures(tmp_path: Path,
                                                                                       store: Store) -> None:
    w = World(tmp_path, store)
    w.daemon.start()
    w.comfy_ready()
    w.spawner.last("executor-0").exit(4)
    w.daemon.step()
    assert w.spawner.of("comfyui-0")[0].signals == [signal.SIGTERM]
    w.daemon.step()
    assert len(w.spawner.of("comfyui-0")) == 2
    w.comfy_ready()
    assert len(w.spawner.of("executor-0")) == 2
    assert all(p.failures.recent(w.clock()) == 0 for p in w.daemon.processes)
    [event] = w.log.events("comfyui_restart")
    assert event["reason"] == "executor_watchdog" and event["restartable"] is True


def test_exit_4_with_an_attached_comfyui_only_starts_the_executor_again(tmp_path: Path, store: Store) -> None:
    w = World(tmp_path, store, comfyui_path=None, comfyui_url="http://gpu:8188/")
    w.daemon.start()
    w.comfy_ready()
    w.spawner.last("executor-0").exit(4)
    w.daemon.step()
    w.daemon.step()
    assert len(w.spawner.of("executor-0")) == 2 and w.states()["comfyui-0"] == "running"
    assert w.log.events("comfyui_restart")[0]["restartable"] is False


def test_another_exit_status_is_still_a_failure(tmp_path: Path, store: Store) -> None:
    w = World(tmp_path, store)
    w.daemon.start()
    w.comfy_ready()
    w.spawner.last("executor-0").exit(5)
    w.daemon.step()
    assert w.states()["executor-0"] == "backoff" and not w.log.events("comfyui_restart")
