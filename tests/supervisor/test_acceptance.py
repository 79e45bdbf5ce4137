"""``comfyui-worker run`` for real, with the fake ComfyUI standing in: jobs survive kill -9 of anything."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.supervisor.harness import ROOT, RunningDaemon, alive, free_ports

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    started: list[RunningDaemon] = []
    yield started
    for d in started:
        d.close()
    for d in started:
        assert d.not_json() == [], "every stdout line is one JSON object"


def make(daemons: list[RunningDaemon], tmp_path: Path, instances: int = 1, **env: str) -> RunningDaemon:
    d = RunningDaemon(tmp_path, instances, **env)
    daemons.append(d)
    return d.start()


def test_every_accepted_job_completes_once_through_kill_9_of_each_process(daemons, tmp_path) -> None:
    # each kill costs the jobs it interrupts an attempt (ComfyUI's crash may be the job's fault): allow enough
    d = make(daemons, tmp_path, FAKE_COMFYUI_DELAY_MS="500", JOB_MAX_ATTEMPTS="6")
    d.wait_ready()
    ids = [d.submit(c) for c in range(3)]
    d.wait_running_job()
    d.wait_restarted("executor-0", d.kill9("executor-0"))

    ids += [d.submit(c) for c in range(3, 6)]
    d.wait_running_job()
    old_comfy = d.kill9("comfyui-0")
    d.wait_restarted("comfyui-0", old_comfy)
    d.wait_for(lambda: d.components()["executor-0"]["restarts"] >= 2, 10,
               "executor restarted together with its ComfyUI")

    ids += [d.submit(c) for c in range(6, 8)]
    old_http = d.kill9("http")
    ids += [d.submit(c) for c in range(8, 10)]  # retried until the restarted transport takes them
    d.wait_restarted("http", old_http)

    d.wait_running_job()
    children = d.child_pids()
    d.signal(signal.SIGKILL)
    d.wait_exit(10)
    d.wait_for(lambda: not any(alive(p) for p in children), 5, "children killed with their supervisor",
               while_alive=False)
    assert d.leftovers() == []

    d.start()  # the same store: the running jobs left behind are recovered at start
    d.wait_jobs(ids, {"completed"}, 60)
    completions = collections.Counter(r["job_id"] for r in d.events("job_completed"))
    assert max(completions.values()) == 1, "no job completed twice"
    assert {r["reason"] for r in d.events("jobs_recovered")} >= {"supervisor_restart"}
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0


def test_sigterm_drains_and_exits_0_leaving_no_process(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, FAKE_COMFYUI_DELAY_MS="1000", SHUTDOWN_GRACE_S="5")
    d.wait_ready()
    ids = [d.submit(c) for c in range(3)]
    running = d.wait_running_job()
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(5 + 3 * 3 + 2) == 0
    assert time.monotonic() - started < 5 + 3
    assert d.leftovers() == []
    jobs = d.jobs()
    assert str(jobs[running].status) in {"completed", "pending"}  # finished within the grace, or requeued
    assert all(str(jobs[i].status) in {"completed", "pending"} for i in ids)
    assert d.components()["supervisor"]["state"] == "stopped"
    order = [r["child"] for r in d.events("child_exited")]
    assert order.index("http") < order.index("executor-0") < order.index("comfyui-0")


def test_a_second_sigint_kills_everything_at_once(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, FAKE_COMFYUI_DELAY_MS="3000", SHUTDOWN_GRACE_S="30")
    d.wait_ready()
    d.submit(1)
    d.wait_running_job()
    d.signal(signal.SIGINT)
    time.sleep(0.8)  # a second SIGINT within 0.5 s counts as the same Ctrl-C
    d.signal(signal.SIGINT)
    assert d.wait_exit(5) == 130
    assert d.leftovers() == []


def test_two_instances_run_jobs_on_both(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, instances=2, FAKE_COMFYUI_DELAY_MS="300")
    d.wait_ready(instances=(0, 1))
    ids = [d.submit(c) for c in range(8)]
    d.wait_jobs(ids, {"completed"}, 30)
    assert {d.jobs()[i].worker_id for i in ids} == {"acceptance-0", "acceptance-1"}
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0
    assert d.leftovers() == []


def test_refresh_worker_restarts_comfyui_after_every_job(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, REFRESH_WORKER="true")
    d.wait_ready()
    ids = [d.submit(c) for c in range(3)]
    d.wait_jobs(ids, {"completed"}, 30)
    d.wait_for(lambda: d.components()["comfyui-0"]["restarts"] >= 3, 10, "three ComfyUI restarts")
    assert len(d.events("comfyui_refresh")) >= 3
    assert not d.events("child_fatal")
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0


def test_a_hung_comfyui_is_killed_and_its_job_runs_again(daemons, tmp_path) -> None:
    d = make(daemons, tmp_path, FAKE_COMFYUI_DELAY_MS="500", COMFYUI_HANG_TIMEOUT_S="1.5")
    d.wait_ready()
    job = d.submit(7)
    d.wait_running_job()
    comfy_url = f"http://127.0.0.1:{d.comfyui_port}"
    d.client.post(f"{comfy_url}/_fake/hang", json={"seconds": None})
    d.wait_jobs([job], {"completed"}, 30)
    assert d.events("comfyui_hung")
    d.signal(signal.SIGTERM)
    assert d.wait_exit(20) == 0


def test_a_comfyui_that_keeps_crashing_becomes_fatal_and_the_daemon_exits_non_zero(daemons, tmp_path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "main.py").write_text("import sys\nprint('Traceback: no torch')\nsys.exit(1)\n")
    d = make(daemons, tmp_path, COMFYUI_PATH=str(broken), RESTART_MAX_FAILURES="3")
    assert d.wait_exit(30) == 1
    assert d.events("child_fatal")[0]["child"] == "comfyui-0"
    assert any(r.get("line") == "Traceback: no torch" and r["process"] == "comfyui" for r in d.records())
    assert d.leftovers() == []


def test_without_comfyui_path_or_url_it_exits_2_with_one_line(tmp_path) -> None:
    env = {"HTTP_API_MODE": "true", "SQLITE_DB_PATH": str(tmp_path / "db"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "supervisor", "run"], env=env, cwd=ROOT, capture_output=True,
                          timeout=30)
    assert done.returncode == 2
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert "COMFYUI_PATH" in done.stderr.decode()


def test_a_store_path_that_cannot_be_opened_exits_2_with_one_line_naming_it(tmp_path) -> None:
    (tmp_path / "ComfyUI").mkdir()
    (tmp_path / "ComfyUI" / "main.py").write_text("")
    (tmp_path / "a-file").write_text("")
    env = {"HTTP_API_MODE": "true", "SQLITE_DB_PATH": str(tmp_path / "a-file" / "jobs.db"),
           "COMFYUI_PATH": str(tmp_path / "ComfyUI"), "DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin",
           "COMFYUI_PORT": str(free_ports(1))}  # not 8188, which another ComfyUI on this host may hold
    done = subprocess.run([sys.executable, "-m", "supervisor", "run"], env=env, cwd=ROOT, capture_output=True,
                          timeout=30)
    assert done.returncode == 2, done.stderr.decode()
    assert len(done.stderr.decode().strip().splitlines()) == 1
    assert "SQLITE_DB_PATH" in done.stderr.decode()
