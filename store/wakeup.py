"""A wake-up after every commit to the store: an empty datagram from the writer to each waiting process.

Waiting is for store changes (``PRAGMA data_version``); this only says *when* to look again, and carries no
data. A lost one costs latency, never a job: whoever waits still checks every POLL_INTERVAL_S.

How: a process that waits (the executor's claim loop, a transport's job watcher) binds a Unix datagram socket
in a folder next to the store, ``<database>.wake/`` (made 0700; refused unless it is ours and closed to others),
named for what it waits for (``Wake``: a job to claim, or a job's end). After each write that changed rows and
committed, the writing ``Store`` sends an empty datagram to every socket there waiting for what that write may
bring (``store.store.WAKES``), but not to the ones waiting on that same connection (its own commits do not move
its ``data_version``; the owner looks again itself). A claim, a heartbeat or a progress write wakes nobody.
A full socket queue means that process has a wake-up pending already: nothing is sent. A socket nobody holds
any more (its process died) refuses the datagram and is removed.

Why not an inotify watch on the ``-wal`` file (no writer needs to take part, so it was tried first): a commit
writes each frame separately, so a waiter wakes several times per commit, and before the commit shows in
``-shm`` (which makes no event), so it needs a second look later. Measured on this machine: 100 µs of CPU
per commit in each waiting process, against 37 µs for one datagram sent after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import secrets
import socket
import stat
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

SUFFIX = ".wake"
SOCKET_SUFFIX = ".sock"
SETTLED_NS = 100_000_000  # an mtime older than this is past the clock tick a file change may share with it
MAX_PATH = 107  # sun_path (108 bytes on Linux, 104 on BSDs) with its terminating NUL


class Wake(enum.Enum):
    """What a waiter waits for, and what a write may bring."""

    JOBS = "jobs"  # a job to claim (submitted, requeued, released): the executor's claim loop
    ENDS = "ends"  # a job's end, or its deletion: the transports' job watchers
    WEBHOOKS = "webhooks"  # a webhook event to deliver: the delivery process (transports/webhooks)


EVERY = frozenset(Wake)


class WakeupUnavailable(Exception):
    """No wake-up for this store here; waiters poll."""


def folder_of(database: str) -> str:
    return os.path.abspath(database) + SUFFIX


def _own_folder(folder: str) -> None:
    """Make the folder (0700) or accept it only when it is ours and nobody else may write in it."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise WakeupUnavailable(f"{folder} is not a folder of ours closed to others")


class Poker:
    """The sending side, one per ``Store`` (connection): pokes every waiting socket but its own connection's."""

    def __init__(self, database: str) -> None:
        self.folder = folder_of(database)
        self.own: set[str] = set()  # sockets of waiters on this very connection
        self._sender: socket.socket | None = None
        self._listed_at: int | None = None  # the folder's mtime when it was last listed
        self._targets: tuple[tuple[str, str], ...] = ()  # (path, kind)
        self._lock = threading.Lock()  # a Store belongs to one thread, but be safe: pokes are cheap

    def poke(self, kinds: frozenset[Wake] = EVERY) -> None:
        """After a commit: one empty datagram to each other waiter for one of these kinds. Never raises."""
        try:
            targets = self._list(kinds)
        except OSError:  # no folder: nobody waits
            return
        if not targets:
            return
        with self._lock:
            sender = self._sender or self._open()
            for path in targets:
                self._send(sender, path)

    def _list(self, kinds: frozenset[Wake]) -> list[str]:
        """The sockets there, listed again only when the folder changed (a socket bound or removed moves its
        mtime; a change in the same clock tick as the last listing does not, so a fresh mtime is not trusted)."""
        mtime = os.stat(self.folder).st_mtime_ns
        if mtime != self._listed_at:
            names = [n for n in os.listdir(self.folder) if n.endswith(SOCKET_SUFFIX)]
            self._targets = tuple((os.path.join(self.folder, n), n.rsplit(".", 2)[-2]) for n in names)
            self._listed_at = mtime if time.time_ns() - mtime > SETTLED_NS else None
        wanted = {kind.value for kind in kinds}
        return [path for path, kind in self._targets if kind in wanted and path not in self.own]

    def _open(self) -> socket.socket:
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        weakref.finalize(self, self._sender.close)
        return self._sender

    def _send(self, sender: socket.socket, path: str) -> None:
        try:
            sender.sendto(b"", path)
        except ConnectionRefusedError:  # nobody holds it: its process died
            with contextlib.suppress(OSError):
                os.unlink(path)
        except OSError:  # queue full (a wake-up is pending there already), gone meanwhile, not allowed
            pass


class StoreWakeup:
    """The waiting side: calls ``on_change`` on ``loop`` (its thread) after commits by other connections."""

    def __init__(self, poker: Poker, kind: Wake, on_change: Callable[[], None],
                 loop: asyncio.AbstractEventLoop) -> None:
        if not hasattr(socket, "AF_UNIX"):
            raise WakeupUnavailable("no Unix sockets on this system")
        self.poker, self.on_change, self.loop = poker, on_change, loop
        self.wakeups = 0  # readable events so far (several datagrams may make one)
        self.path = os.path.join(poker.folder, f"{os.getpid()}-{secrets.token_hex(4)}.{kind.value}{SOCKET_SUFFIX}")
        if len(os.fsencode(self.path)) > MAX_PATH:
            raise WakeupUnavailable(f"socket path too long ({self.path}): move SQLITE_DB_PATH to a shorter path")
        try:
            _own_folder(poker.folder)
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
            self._socket.bind(self.path)
        except OSError as exc:
            raise WakeupUnavailable(f"cannot listen at {self.path}: {exc}") from exc
        poker.own.add(self.path)
        self._cleanup = weakref.finalize(self, _remove, self._socket, self.path, poker.own)
        loop.add_reader(self._socket.fileno(), self._readable)

    def _readable(self) -> None:
        while True:
            try:
                self._socket.recv(64)
            except BlockingIOError:
                break
            except OSError:  # closed under us
                return
        self.wakeups += 1
        self.on_change()

    def close(self) -> None:
        if self._cleanup.alive and not self.loop.is_closed():
            self.loop.remove_reader(self._socket.fileno())
        self._cleanup()


def _remove(sock: socket.socket, path: str, own: set[str]) -> None:
    own.discard(path)
    sock.close()
    with contextlib.suppress(OSError):
        os.unlink(path)


def open_wakeup(poker: Poker, kind: Wake, on_change: Callable[[], None], *, enabled: bool,
                log: Any) -> StoreWakeup | None:
    """The wake-up of a waiter for ``kind`` on the connection of ``poker`` (``Store.poker``) for the running
    loop, or None (said once in the log): then it only polls."""
    if not enabled:
        log.info("store_wakeup_off", reason="STORE_WAKEUP=false: waiting processes poll every POLL_INTERVAL_S")
        return None
    try:
        wakeup = StoreWakeup(poker, kind, on_change, asyncio.get_running_loop())
    except WakeupUnavailable as exc:
        log.warning("store_wakeup_unavailable", reason=str(exc),
                    detail="waiting processes poll every POLL_INTERVAL_S (lower it for lower latency)")
        return None
    log.debug("store_wakeup_listening", path=wakeup.path)
    return wakeup
