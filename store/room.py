"""The store's room on disk: its size and free space, a full disk turned into StoreFull, the reserve file that
lets deletions run on a full disk, and the size cap (STORE_MAX_MB). A mixin of ``Store``."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import apsw

from config.logging import get_logger
from store import evict
from store.disk import MB, DiskState, FreeSpace, Reserve, Space, is_full, measure
from store.errors import StoreFull

FULL_ROOM = MB  # less room than this: the store is full (a job with any output would not fit)

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


def writes(method: F) -> F:
    """A write: a full disk (SQLITE_FULL, ENOSPC) becomes StoreFull, logged once per episode as
    ``store_full``; the first write that works again logs ``store_recovered``; one that changed rows and
    committed calls ``committed()``."""

    @functools.wraps(method)
    def wrapper(self: Room, *args: Any, **kwargs: Any) -> Any:
        changes = self.conn.total_changes()
        try:
            result = method(self, *args, **kwargs)
        except (apsw.Error, OSError) as exc:
            if not is_full(exc, self.conn):
                raise
            raise self._full(exc) from exc
        if self.full_since is not None and self.disk_state() is not DiskState.FULL:  # not a write that fit
            get_logger().info("store_recovered", database_path=self.path,
                              full_for_s=round(time.monotonic() - self.full_since, 3))
            self.full_since = None
        if self.conn.total_changes() != changes and not self.conn.in_transaction:
            self.committed(method.__name__)
        return result

    return cast(F, wrapper)


class Room:
    """What ``Store`` knows of its disk; the attributes are set by ``Store.__init__``."""

    path: str
    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]
    min_free_bytes: int
    free_space: FreeSpace
    reserve: Reserve
    full_since: float | None  # monotonic time a write of this connection last met a full disk
    evicted_before: float  # every finished job completed before this has no stored files left

    def committed(self, write: str) -> None:
        """After the write named ``write`` changed rows and committed (``Store`` wakes who waits: store.wakeup)."""

    def space(self) -> Space:
        """The store's size and the room it has left (one statement and a statvfs: about 15 us)."""
        return measure(self.conn, os.path.dirname(os.path.abspath(self.path)), self.free_space)

    def disk_state(self, space: Space | None = None) -> DiskState:
        space = space or self.space()
        if space.room_bytes < FULL_ROOM:
            return DiskState.FULL
        return DiskState.LOW if space.room_bytes < self.min_free_bytes else DiskState.OK

    def _full(self, exc: BaseException) -> StoreFull:
        try:
            free: int | None = self.space().disk_free_bytes
        except Exception:  # measuring must not hide why the write failed
            free = None
        if self.full_since is None:
            self.full_since = time.monotonic()
            get_logger().warning("store_full", database_path=self.path, disk_free_bytes=free,
                                 error=f"{type(exc).__name__}: {exc}")
        where = f"{free / MB:.1f} MB free on the disk of {self.path}" if free is not None else self.path
        return StoreFull(f"the job store is full ({type(exc).__name__}: {exc}); {where}",
                         free_bytes=free, path=self.path)

    def _using_reserve(self, work: Callable[[], R]) -> R:
        """``work()`` (deletions), with the reserve released first when the store is full, or released and
        ``work()`` run again when it met a full disk; made again after when the disk has room."""
        released = self.disk_state() is DiskState.FULL and self._release_reserve("store_full")
        try:
            try:
                return work()
            except StoreFull:
                if not self._release_reserve("write_met_full_disk"):
                    raise
                released = True
                return work()
        finally:
            if released:
                self.ensure_reserve()

    def _release_reserve(self, reason: str) -> bool:
        if not self.reserve.release():
            return False
        get_logger().warning("disk_reserve_released", path=self.reserve.path, bytes=self.reserve.size, reason=reason)
        return True

    def ensure_reserve(self) -> bool:
        """Make the reserve file when it is missing and the disk has room for it above the floor."""
        made = self.reserve.ensure(self.min_free_bytes)
        if made:
            get_logger().info("disk_reserve_created", path=self.reserve.path, bytes=self.reserve.size)
        return made

    def evict_outputs(self, max_used_bytes: int, *, batch: int = 20) -> tuple[int, int]:
        """Remove the stored files (outputs and inputs) of the oldest finished jobs until the store uses at most
        ``max_used_bytes``; their result entries say ``"type": "removed"``. Returns (jobs, bytes freed)."""
        return self._using_reserve(lambda: self._evict(max_used_bytes, batch))

    @writes
    def _evict(self, max_used_bytes: int, batch: int) -> tuple[int, int]:
        return evict.evict_outputs(self, max_used_bytes, batch=batch)

