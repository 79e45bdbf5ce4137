"""The real spawner: each child in its own session and process group, killed by the kernel if we die."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from supervisor import ports
from supervisor.process import ProcessSpec

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:  # the symbols already loaded in this process, libc's among them (ctypes.util would cost shutil & co)
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()  # resolved in the parent: the child only calls it


def die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL this child when its parent dies, even by ``kill -9``.

    The signal is tied to the forking thread, so spawn only from the main thread. If the parent died between
    fork and prctl, the child is already orphaned and kills itself.
    """

    def preexec() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class PopenHandle:
    """A child started by ``spawn``; its pid is also its process group id."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


PipeCallback = Callable[[ProcessSpec, int, str], None]  # (spec, fd, "stdout" | "stderr")


def spawn(spec: ProcessSpec, on_pipe: PipeCallback | None = None) -> PopenHandle:
    """Start ``spec`` in a new session; its stdout and stderr are non-blocking pipes given to ``on_pipe``.

    A child that serves on a port (``spec.port``) is not started while something else holds that port."""
    if spec.port is not None and (why := ports.refusal(spec.port, spec.name)):
        raise OSError(errno.EADDRINUSE, why)
    popen = subprocess.Popen(
        spec.argv,
        cwd=spec.cwd,
        env=spec.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=die_with_parent(os.getpid()),  # only prctl and getppid run in the child
        close_fds=True,
    )
    for stream, pipe in (("stdout", popen.stdout), ("stderr", popen.stderr)):
        assert pipe is not None
        fd = os.dup(pipe.fileno())  # the relay owns this copy; Popen's object is closed now
        pipe.close()
        os.set_blocking(fd, False)
        if on_pipe:
            on_pipe(spec, fd, stream)
        else:
            os.close(fd)
    return PopenHandle(popen)


def processes_in_group(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid``, from /proc (Linux): used to check no child is left behind."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields[0] != b"Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            found.append(int(entry))
    return found
