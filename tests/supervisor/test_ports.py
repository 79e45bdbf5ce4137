"""Who listens on a port: a spawned ComfyUI's listener must be its own (or a descendant's), never a stranger's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import ports
from supervisor.ports import Owner
from tests.supervisor.harness import free_ports

linux = pytest.mark.skipif(not os.path.isfile("/proc/net/tcp"), reason="needs Linux /proc")

LISTEN = """import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("ready", flush=True); time.sleep(60)
"""


@pytest.fixture
def listener() -> Iterator[tuple[int, socket.socket]]:
    """A socket of this test process listening on a free loopback port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1], s
    s.close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


@linux
def test_a_listener_of_the_child_is_ours_and_of_anyone_else_a_stranger(listener, sleeper) -> None:
    port, _ = listener
    assert ports.owner(port, os.getpid()) is Owner.OURS
    assert ports.owner(port, sleeper.pid) is Owner.STRANGER


@linux
def test_a_listener_of_a_grandchild_is_ours() -> None:
    """COMFYUI_PYTHON may be a wrapper: the server is then a descendant of the spawned process."""
    port = free_ports()
    wrapper = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])", sys.executable, "-c", LISTEN,
         str(port)], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert wrapper.stdout is not None and wrapper.stdout.readline() == b"ready\n"
        assert ports.owner(port, wrapper.pid) is Owner.OURS
    finally:
        os.killpg(wrapper.pid, 9)
        wrapper.wait()


@linux
def test_nobody_listens_on_a_free_port_and_a_dead_child_owns_nothing(listener, sleeper) -> None:
    assert ports.owner(free_ports(), os.getpid()) is Owner.NOBODY
    sleeper.kill()
    sleeper.wait()
    assert ports.owner(listener[0], sleeper.pid) is Owner.NOBODY  # its exit is handled, not a stranger


@linux
def test_a_port_in_use_is_refused_in_one_line_naming_the_port_and_the_process(listener) -> None:
    port, _ = listener
    line = ports.refusal(port, "COMFYUI_PORT=1")
    assert line is not None and "\n" not in line
    assert line.startswith(f"COMFYUI_PORT=1: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} (")
    assert ports.refusal(free_ports(), "COMFYUI_PORT=1") is None


# --- a /proc made by hand: what a real one shows only under races or other users --------------------------------

def fake_proc(tmp_path: Path, port: int, sockets: dict[int, int], procs: dict[int, tuple[int, list[int]]]) -> str:
    """``sockets``: inode -> uid listening on ``port``; ``procs``: pid -> (ppid, socket inodes it holds)."""
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    rows = ["  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"]
    for n, (inode, uid) in enumerate(sockets.items()):
        rows.append(f"   {n}: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000 "
                    f"{uid:>5}        0 {inode} 1 0000000000000000 100 0 0 10 0")
    (root / "net" / "tcp").write_text("\n".join(rows) + "\n")
    for pid, (ppid, inodes) in procs.items():
        (root / str(pid) / "fd").mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} (python) S {ppid} {pid} {pid} 0\n")
        (root / str(pid) / "cmdline").write_bytes(b"python\0main.py\0")
        for fd, inode in enumerate(inodes):
            os.symlink(f"socket:[{inode}]", root / str(pid) / "fd" / str(fd + 3))
    return str(root)


def test_a_stranger_sharing_the_port_with_our_child_makes_it_not_ours(tmp_path: Path) -> None:
    """SO_REUSEPORT lets two sockets listen on one port: the kernel would hand some connections to the other."""
    proc = fake_proc(tmp_path, 8188, {11: 0, 22: 0}, {10: (1, [11]), 20: (1, [22])})
    assert ports.owner(8188, 10, proc) is Owner.STRANGER
    assert ports.holder(8188, proc) == "pid 10 (python main.py), pid 20 (python main.py)"


def test_another_users_listener_we_cannot_look_into_is_a_stranger_named_by_uid(tmp_path: Path) -> None:
    uid = os.geteuid() + 1
    proc = fake_proc(tmp_path, 8188, {33: uid}, {10: (1, [])})
    if os.geteuid() != 0:
        assert ports.owner(8188, 10, proc) is Owner.STRANGER
    assert ports.holder(8188, proc) == f"a process of uid {uid} (not ours to inspect)"


def test_a_listener_nobody_holds_any_more_is_being_closed_not_a_stranger(tmp_path: Path) -> None:
    """A killed server's socket lingers in /proc/net/tcp a moment after its files are gone."""
    proc = fake_proc(tmp_path, 8188, {44: os.geteuid()}, {10: (1, [])})
    assert ports.owner(8188, 10, proc) is Owner.NOBODY


def test_without_proc_ownership_is_unknown(tmp_path: Path) -> None:
    assert ports.owner(8188, 10, str(tmp_path / "nothing")) is Owner.UNKNOWN
    assert ports.listeners(8188, str(tmp_path / "nothing")) is None


def test_a_child_gone_between_probes_is_noticed(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 8188, {11: 0}, {10: (1, [11])})
    assert ports.owner(8188, 10, proc) is Owner.OURS
    assert ports.owner(8188, 99, proc) is Owner.NOBODY
