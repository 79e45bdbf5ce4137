"""The real spawner: own process group, and no orphans when the supervisor is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from supervisor.process import ProcessSpec
from supervisor.spawn import processes_in_group, spawn
from tests.supervisor.harness import ROOT, alive

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux")


def sleeper(name: str = "s") -> ProcessSpec:
    return ProcessSpec(name=name, kind="executor", argv=[sys.executable, "-c", "import time; time.sleep(60)"])


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_child_leads_its_own_process_group_and_dies_with_it() -> None:
    handle = spawn(sleeper())
    assert os.getpgid(handle.pid) == handle.pid != os.getpgid(0)
    assert processes_in_group(handle.pid) == [handle.pid]
    handle.signal_group(signal.SIGKILL)
    assert wait_until(lambda: handle.poll() is not None)
    assert handle.poll() == -signal.SIGKILL
    handle.signal_group(signal.SIGTERM)  # gone: no error


def test_children_die_when_their_parent_is_killed_with_sigkill() -> None:
    parent_code = (
        "import sys, time\n"
        "from supervisor.process import ProcessSpec\n"
        "from supervisor.spawn import spawn\n"
        "h = spawn(ProcessSpec(name='c', kind='executor', argv=[sys.executable, '-c', 'import time; "
        "time.sleep(60)']))\n"
        "print(h.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, cwd=ROOT)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    assert wait_until(lambda: not alive(child)), "PR_SET_PDEATHSIG killed the orphan"


def test_a_command_that_does_not_exist_raises_oserror() -> None:
    with pytest.raises(OSError):
        spawn(ProcessSpec(name="x", kind="executor", argv=["/nonexistent/binary"]))


def test_what_a_crashed_child_left_in_its_group_is_killed_when_its_exit_is_seen() -> None:
    from supervisor.policy import RestartPolicy
    from supervisor.process import ManagedProcess
    from supervisor.states import ProcessState

    # ComfyUI crashing while a worker process it started (same group) lives on: it would hold the GPU and port
    spec = ProcessSpec(name="comfyui-0", kind="comfyui", argv=["sh", "-c", "sleep 60 & sleep 0.2; exit 1"])
    proc = ManagedProcess(spec, spawner=spawn, clock=time.monotonic, policy=RestartPolicy(base_s=60))
    proc.start()
    pgid = proc.pid
    assert pgid is not None
    assert wait_until(lambda: (proc.tick(), proc.state)[1] is ProcessState.BACKOFF)
    try:
        assert wait_until(lambda: processes_in_group(pgid) == [], timeout=2.0), processes_in_group(pgid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
