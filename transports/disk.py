"""Room for new jobs: 507 before anything is written when the store has less room than MIN_FREE_DISK_MB, and
the store's size and free space for /health and /stats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config.logging import get_logger
from store import Store, StoreFull
from store.disk import MB, DiskState
from transports.bodies import DiskBody

STORE_FULL_FIX = ("to fix: free disk space there, delete finished jobs (POST /admin/cleanup?max_age_hours=N), "
                  "or lower CLEANUP_MAX_AGE_HOURS or STORE_MAX_MB")


def disk_body(store: Store) -> DiskBody:
    space = store.space()
    return DiskBody(state=str(store.disk_state(space)), store_bytes=space.store_bytes,
                    store_used_bytes=space.store_used_bytes, disk_free_bytes=space.disk_free_bytes,
                    room_bytes=space.room_bytes, min_free_bytes=store.min_free_bytes)


def disk_problem(disk: DiskBody, path: str) -> str | None:
    """Why the store takes no new job, naming the free space; None when it has room."""
    if disk.state == DiskState.OK:
        return None
    where = f"{disk.room_bytes / MB:.1f} MB of room left, {disk.disk_free_bytes / MB:.1f} MB free on the disk of {path}"
    if disk.state == DiskState.FULL:
        return f"disk full: the job store is full ({where})"
    return f"disk low: the job store has {where}, below MIN_FREE_DISK_MB={disk.min_free_bytes / MB:g}"


class RoomGate:
    """Refuses new jobs without room; ``refusing`` makes ``disk_low`` / ``store_recovered`` one line each."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.refusing = False

    @contextmanager
    def for_jobs(self) -> Iterator[None]:
        """Refuse before writing when the store has less room than MIN_FREE_DISK_MB; a write that meets a
        full disk anyway is refused the same way (StoreFull, whose message names the free space and the fix)."""
        disk = disk_body(self.store)
        problem = disk_problem(disk, self.store.path)
        try:
            if problem:
                raise StoreFull(problem, free_bytes=disk.disk_free_bytes, path=self.store.path)
            yield
        except StoreFull as exc:
            if not self.refusing:
                self.refusing = True
                get_logger().warning("disk_low", detail=str(exc), room_bytes=disk.room_bytes,
                                     min_free_bytes=disk.min_free_bytes)
            raise StoreFull(f"{exc}; {STORE_FULL_FIX}", free_bytes=exc.free_bytes, path=exc.path) from None
        if self.refusing:
            self.refusing = False
            get_logger().info("store_recovered", reason="new jobs accepted again", room_bytes=disk.room_bytes)
