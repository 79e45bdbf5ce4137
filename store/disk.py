"""The room the store has left: free disk space, the store's own size and free pages, and a reserve file.

A full disk is told apart from other failures here (``is_full``); the store turns it into ``StoreFull``.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
from collections.abc import Callable

import apsw
import msgspec

MB = 1024 * 1024
FreeSpace = Callable[[str], int]  # folder -> bytes free for an unprivileged writer


def disk_free(folder: str) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def is_full(exc: BaseException, conn: apsw.Connection | None = None) -> bool:
    """SQLITE_FULL, ENOSPC, or an SQLite I/O error whose system error is ENOSPC (e.g. growing the -shm)."""
    if isinstance(exc, apsw.FullError):
        return True
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    if isinstance(exc, apsw.IOError) and conn is not None:
        try:
            return conn.system_errno == errno.ENOSPC
        except apsw.Error:
            return False
    return False


class DiskState(enum.StrEnum):
    OK = "ok"
    LOW = "low"  # less room than MIN_FREE_DISK_MB: new jobs are refused (507)
    FULL = "full"  # writes fail: only deleting jobs still works


class Space(msgspec.Struct, frozen=True, kw_only=True):
    """Sizes in bytes. ``room``: what the store can still take — its free pages plus what it may grow by
    (free disk space, bounded by a page limit when one is set)."""

    store_bytes: int  # the database file (page_count * page_size)
    store_used_bytes: int  # without its free pages: what STORE_MAX_MB is compared with
    store_free_bytes: int  # free pages, reused before the file grows
    disk_free_bytes: int
    room_bytes: int


_SIZES = ("SELECT p.page_count, f.freelist_count, m.max_page_count, s.page_size FROM pragma_page_count() AS p, "
          "pragma_freelist_count() AS f, pragma_max_page_count() AS m, pragma_page_size() AS s")


def measure(conn: apsw.Connection, folder: str, free_space: FreeSpace = disk_free) -> Space:
    """One statement of four pragmas and one statvfs: about 15 us."""
    pages, free_pages, max_pages, page_size = conn.execute(_SIZES).fetchone()  # type: ignore[misc]
    disk = max(0, free_space(folder))
    growth = min(disk, max(0, max_pages - pages) * page_size)
    return Space(store_bytes=pages * page_size, store_used_bytes=(pages - free_pages) * page_size,
                 store_free_bytes=free_pages * page_size, disk_free_bytes=disk,
                 room_bytes=growth + free_pages * page_size)


class Reserve:
    """A file of ``size`` bytes next to the store: deleted to give a cleanup on a full disk room for its
    WAL writes, and made again once the disk has room for it above the floor."""

    def __init__(self, store_path: str, size: int, free_space: FreeSpace = disk_free) -> None:
        self.path = os.path.abspath(store_path) + "-reserve"
        self.size = size
        self.free_space = free_space

    @property
    def held(self) -> bool:
        try:
            return os.path.getsize(self.path) >= self.size
        except OSError:
            return False

    def release(self) -> bool:
        """Delete the reserve; True when there was one."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            return False
        return True

    def ensure(self, floor: int) -> bool:
        """Make the reserve when it is missing and the disk keeps ``floor`` bytes free beside it; True when made."""
        if self.size <= 0 or self.held:
            return False
        if self.free_space(os.path.dirname(self.path)) - self.size < floor:
            return False
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                _allocate(f.fileno(), self.size)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            return False
        return True


def _allocate(fd: int, size: int) -> None:
    """Real blocks, not a sparse file (zeros written where the file system cannot allocate)."""
    try:
        os.posix_fallocate(fd, 0, size)
        return
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
    chunk = b"\0" * MB
    for start in range(0, size, MB):
        os.write(fd, chunk[: min(MB, size - start)])
