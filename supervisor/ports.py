"""Who listens on a TCP port, from Linux's /proc: a spawned ComfyUI's port must be free before it starts, and the
server answering on it must be that child (or one of its descendants), never a stranger.

``/proc/net/tcp`` and ``tcp6`` list listening sockets with their inode and owner uid; ``/proc/<pid>/fd`` links
name the socket inodes a process holds (readable for our own processes, so our children can always be checked;
a stranger of another user is named by its uid). Elsewhere (no /proc) ownership cannot be told: ``UNKNOWN``.
"""

from __future__ import annotations

import enum
import errno
import os
import socket
from collections.abc import Iterable

import msgspec

LISTEN = "0A"  # TCP state in /proc/net/tcp
PROC = "/proc"


class Owner(enum.Enum):
    NOBODY = "nobody"  # nothing listens on the port (yet)
    OURS = "ours"  # every listener on the port is the child or one of its descendants
    STRANGER = "stranger"  # some other process listens on the port
    UNKNOWN = "unknown"  # no /proc: cannot tell


class Listener(msgspec.Struct, frozen=True):
    inode: int
    uid: int


def listeners(port: int, proc: str = PROC) -> list[Listener] | None:
    """The sockets listening on ``port`` (any address, IPv4 and IPv6); None when /proc/net cannot be read."""
    found, readable = [], False
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", name)) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port and int(fields[9]):
                found.append(Listener(inode=int(fields[9]), uid=int(fields[7])))
    return found if readable else None


def _parents(proc: str) -> dict[int, tuple[int, int]]:
    """pid -> (ppid, pgid) of every process."""
    table = {}
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat"), "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields[0] != b"Z":  # a zombie holds no socket any more
            table[int(entry)] = (int(fields[1]), int(fields[2]))
    return table


def family(root: int, proc: str = PROC) -> set[int]:
    """``root``, its descendants, and the members of its process group (``root`` leads a session of its own);
    empty when ``root`` is gone."""
    table = _parents(proc)
    if root not in table:
        return set()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found | {pid for pid, (_, pgid) in table.items() if pgid == root}


def holders(inodes: Iterable[int], pids: Iterable[int], proc: str = PROC) -> set[int]:
    """The pids among ``pids`` holding one of these socket inodes (pids we may not look into are skipped)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found = set()
    for pid in pids:
        folder = os.path.join(proc, str(pid), "fd")
        try:
            fds = os.listdir(folder)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(folder, fd)) in wanted:
                    found.add(pid)
                    break
            except OSError:
                continue
    return found


def owner(port: int, child: int, proc: str = PROC) -> Owner:
    """Whose server listens on ``port``: the child's (or a descendant's), a stranger's, or nobody's yet."""
    found = listeners(port, proc)
    if found is None:
        return Owner.UNKNOWN
    if not found:
        return Owner.NOBODY
    ours = family(child, proc)
    if not ours:  # the child died: its exit is seen at the next tick, its port is nobody's to probe
        return Owner.NOBODY
    verdict = Owner.NOBODY
    for listener in found:  # a stranger sharing the port (SO_REUSEPORT) would get some connections: not ours
        if holders([listener.inode], ours, proc):
            verdict = Owner.OURS if verdict is Owner.NOBODY else verdict
        elif not _closing(listener, proc):
            return Owner.STRANGER
    return verdict


def _closing(listener: Listener, proc: str) -> bool:
    """A listener no process holds although we could see its holder: a socket being torn down with its dead
    process (it lingers in /proc/net/tcp for a moment after the process's files are gone)."""
    if os.geteuid() != 0 and listener.uid != os.geteuid():
        return False  # another user's process: we cannot look into it, so it counts as a stranger
    return not holders([listener.inode], _all_pids(proc), proc)


def _all_pids(proc: str) -> list[int]:
    return [int(e) for e in os.listdir(proc) if e.isdigit()]


def describe(pid: int, proc: str = PROC) -> str:
    """``pid 123 (python3 -m http.server 8188)``: its command line, cut short."""
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as f:
            argv = f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        argv = ""
    argv = " ".join(argv.split())  # one line, whatever the command line holds
    argv = argv if len(argv) <= 120 else argv[:117] + "..."
    return f"pid {pid} ({argv})" if argv else f"pid {pid}"


def holder(port: int, proc: str = PROC) -> str | None:
    """Who listens on ``port``, as well as we can tell: process ids and command lines, else the owner's uid."""
    found = listeners(port, proc)
    if not found:
        return None
    pids = sorted(holders([listener.inode for listener in found], _all_pids(proc), proc))
    if pids:
        return ", ".join(describe(pid, proc) for pid in pids[:3])
    uids = sorted({listener.uid for listener in found})
    return "a process of uid " + ", ".join(map(str, uids)) + " (not ours to inspect)"


def in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could not bind ``host:port`` (the way ComfyUI binds it, SO_REUSEADDR) or /proc lists
    a listener on that port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:  # another error (a privileged port) is ComfyUI's own to report
            if exc.errno == errno.EADDRINUSE:
                return True
    return bool(listeners(port))


def refusal(port: int, what: str) -> str | None:
    """One line refusing a port in use, naming who holds it where we can tell; None when the port is free."""
    if not in_use(port):
        return None
    who = holder(port)
    return f"{what}: port {port} on 127.0.0.1 is already in use" + (f" by {who}" if who else "") + \
        "; stop that process or choose another port"
