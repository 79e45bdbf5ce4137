"""A wake-up on every commit to the store, by any process: Linux inotify on the database's files.

Waiting is for store changes (``PRAGMA data_version``); this only says *when* to look again, and carries no
data. A lost wake-up costs latency, never a job: whoever waits still checks every POLL_INTERVAL_S.

Why inotify and not datagrams that writers send after their commits: no writer has to take part (a commit by
any process, the CLI, a backup tool or the sqlite3 shell wakes every waiter), there is no socket folder to
keep clean after a crash, and no path length limit. What it watches:

- ``IN_MODIFY`` of the ``-wal`` file: every commit writes its frames there, and a checkpoint that truncates it
  (``wal_checkpoint(TRUNCATE)``, ``journal_size_limit``) keeps the same file, so the same watch;
- ``IN_MODIFY`` of the database file itself (checkpoints; a store someone switched out of WAL mode);
- ``IN_CREATE`` / ``IN_MOVED_TO`` of either name in the folder: the WAL is deleted when the last connection
  closes and made anew by the next, and a restore may rename a file into place: its watch is added again.

A commit makes a few events (one per write of a frame), and a busy store many: ``on_change`` is called at
most once per ``GAP_S`` (the first event at once, later ones at the end of the gap), so a waiter looks once per
commit or less, not once per write. A write's event can also arrive before its commit shows: SQLite writes
a commit's frames, then publishes them in the ``-shm`` index, which makes no event. So after each burst of
events comes one more call, ``SETTLE_S`` after its last event. Each process opens one (``open_wakeup``) for
the one loop that waits in it.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import struct
import sys
import weakref
from collections.abc import Callable
from typing import Any

IN_MODIFY = 0x2
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000
FILE_EVENTS = IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF
FOLDER_EVENTS = IN_CREATE | IN_MOVED_TO
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name, len bytes)
GAP_S = 0.001  # at most one call per millisecond however many writes
SETTLE_S = 0.005  # the extra call after a burst: the commit whose frames made it is published by then


class WakeupUnavailable(Exception):
    """No wake-up on this system or for this store; waiters poll."""


class _Inotify:
    """The three libc calls (Python has no binding of its own)."""

    def __init__(self) -> None:
        if not sys.platform.startswith("linux"):
            raise WakeupUnavailable(f"inotify is Linux only (this is {sys.platform})")
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._init1, self._add, self._rm = libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch
        except (OSError, AttributeError) as exc:
            raise WakeupUnavailable(f"no inotify in libc: {exc}") from exc
        self._init1.argtypes, self._init1.restype = [ctypes.c_int], ctypes.c_int
        self._add.argtypes, self._add.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32], ctypes.c_int
        self._rm.argtypes, self._rm.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int

    def init(self) -> int:
        fd = int(self._init1(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0:
            code = ctypes.get_errno()
            raise WakeupUnavailable(f"inotify_init1: {os.strerror(code)} (fs.inotify.max_user_instances?)")
        return fd

    def add(self, fd: int, path: str, mask: int) -> int | None:
        """The watch descriptor, or None when ``path`` does not exist (yet). Raises OSError otherwise."""
        wd = int(self._add(fd, os.fsencode(path), mask))
        if wd >= 0:
            return wd
        code = ctypes.get_errno()
        if code == errno.ENOENT:
            return None
        raise OSError(code, f"inotify_add_watch {path}: {os.strerror(code)}")

    def rm(self, fd: int, wd: int) -> None:
        self._rm(fd, wd)  # fails only for a watch already gone: nothing to do


class StoreWakeup:
    """Calls ``on_change`` on ``loop`` (its thread) after commits to the store at ``path``, from any process."""

    def __init__(self, path: str, on_change: Callable[[], None], loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.on_change = loop, on_change
        self.folder, name = os.path.split(os.path.abspath(path))
        self.names = (name, f"{name}-wal")
        self.wakeups = 0  # bursts of events seen so far
        self._inotify = _Inotify()
        self._fd = self._inotify.init()
        self._close_fd = weakref.finalize(self, os.close, self._fd)  # even if close() is never called
        self._watches: dict[int, str] = {}  # watch descriptor -> file name
        self._settle: asyncio.TimerHandle | None = None
        self._due: asyncio.TimerHandle | None = None  # a call held back to the end of the gap
        self._called_at = -GAP_S
        try:
            self._folder_wd = self._inotify.add(self._fd, self.folder, FOLDER_EVENTS)
            if self._folder_wd is None:
                raise WakeupUnavailable(f"no folder {self.folder}")
            for file_name in self.names:
                self._watch(file_name)
        except OSError as exc:
            self._close_fd()
            raise WakeupUnavailable(str(exc)) from exc
        loop.add_reader(self._fd, self._readable)

    def _watch(self, name: str) -> None:
        """Watch the file called ``name`` now (again: a new file under that name gets a new watch)."""
        wd = self._inotify.add(self._fd, os.path.join(self.folder, name), FILE_EVENTS)
        if wd is not None:
            self._watches[wd] = name

    def _readable(self) -> None:
        changed = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError:  # closed under us: nothing more will come
                return
            changed = self._handle(data) or changed
        if changed:
            self._fire()

    def _handle(self, data: bytes) -> bool:
        """Act on a buffer of events; True when one may mean a commit."""
        changed, offset = False, 0
        while offset + EVENT.size <= len(data):
            wd, mask, _cookie, length = EVENT.unpack_from(data, offset)
            name = data[offset + EVENT.size:offset + EVENT.size + length].rstrip(b"\0").decode(errors="replace")
            offset += EVENT.size + length
            changed = self._event(wd, mask, name) or changed
        return changed

    def _event(self, wd: int, mask: int, name: str) -> bool:
        if mask & IN_Q_OVERFLOW:  # events were dropped: something may have changed
            return True
        if wd == self._folder_wd:
            if name in self.names:  # created or renamed into place: watch the new file
                self._watch(name)
                return True
            return False
        watched = self._watches.get(wd)
        if watched is None:
            return False
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF):  # gone from its name: watch whatever bears it now
            self._inotify.rm(self._fd, wd)
            del self._watches[wd]
            self._watch(watched)
            return True
        if mask & IN_IGNORED:
            del self._watches[wd]
            return False
        return bool(mask & IN_MODIFY)

    def _fire(self) -> None:
        self.wakeups += 1
        if self._settle is not None:
            self._settle.cancel()
        self._settle = self.loop.call_later(SETTLE_S, self._call)
        if self._due is not None:
            return
        wait = self._called_at + GAP_S - self.loop.time()
        if wait > 0:
            self._due = self.loop.call_later(wait, self._call)
        else:
            self._call()

    def _call(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self._called_at = self.loop.time()
        self.on_change()

    def close(self) -> None:
        for handle in (self._settle, self._due):
            if handle is not None:
                handle.cancel()
        if self._close_fd.alive and not self.loop.is_closed():
            self.loop.remove_reader(self._fd)
        self._close_fd()


def open_wakeup(path: str, on_change: Callable[[], None], *, enabled: bool, log: Any) -> StoreWakeup | None:
    """The wake-up for this process's running loop, or None (said once in the log): then only polling."""
    if not enabled:
        log.info("store_wakeup_off", reason="STORE_WAKEUP=false: waiting processes poll every POLL_INTERVAL_S")
        return None
    try:
        wakeup = StoreWakeup(path, on_change, asyncio.get_running_loop())
    except WakeupUnavailable as exc:
        log.warning("store_wakeup_unavailable", reason=str(exc),
                    detail="waiting processes poll every POLL_INTERVAL_S (lower it for lower latency)")
        return None
    log.debug("store_wakeup_watching", folder=wakeup.folder, files=list(wakeup.names))
    return wakeup
