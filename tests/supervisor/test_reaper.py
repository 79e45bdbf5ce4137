"""As PID 1 (here: a child subreaper), the supervisor reaps orphans' zombies but never its own children."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs prctl and /proc")

SCRIPT = r"""
import ctypes, os, subprocess, sys, time
from supervisor.reaper import reap_orphans
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us
managed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
# a middle process starts a grandchild and exits: the grandchild is re-parented to us, then dies
middle = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'pass']); print(p.pid)"],
    stdout=subprocess.PIPE, text=True)
orphan = int(middle.stdout.readline())
middle.wait()
time.sleep(0.5)  # the orphan and the managed child have exited by now
def state(pid):
    try:
        stat = open(f"/proc/{pid}/stat", "rb").read()
        return stat[stat.rfind(b")") + 2:].split()[0].decode()
    except OSError:
        return "gone"
before = state(orphan)
reaped = reap_orphans({managed.pid})
print(before, state(orphan), orphan in reaped, managed.pid in reaped, managed.wait(), state(managed.pid))
"""


def test_orphan_zombies_are_reaped_and_managed_children_keep_their_status() -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    assert out == ["Z", "gone", "True", "False", "0", "gone"]
