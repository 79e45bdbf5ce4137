"""Reaping orphans: as PID 1 in a container, every process whose parent died is re-parented to the supervisor.

Their zombies are reaped here; the supervisor's own children are left alone (their exit statuses belong to
their ``Popen`` objects, which a plain ``waitpid(-1)`` would steal).
"""

from __future__ import annotations

import os
from collections.abc import Collection


def _zombie_child_of(pid: int, parent: int, proc_root: str) -> bool:
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2:].split()  # state, ppid, ...
    return fields[0] == b"Z" and int(fields[1]) == parent


def reap_orphans(managed: Collection[int], proc_root: str = "/proc") -> list[int]:
    """Reap every zombie child of this process that is not one of the `managed` pids; returns their pids."""
    me, reaped = os.getpid(), []
    for entry in os.scandir(proc_root):
        if not entry.name.isdigit() or int(entry.name) in managed:
            continue
        pid = int(entry.name)
        if _zombie_child_of(pid, me, proc_root):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped meanwhile
                continue
            reaped.append(pid)
    return reaped
