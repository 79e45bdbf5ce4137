"""Scheduled backups of the store (BACKUP_DIR, BACKUP_INTERVAL_S, BACKUP_KEEP): the same consistent online copy
as ``comfyui-worker backup`` (store/backup.py), checked with ``PRAGMA integrity_check`` before the oldest copies
beyond BACKUP_KEEP are removed.

A backup runs on its own thread with its own Store (for recording the outcome), so a long one holds up neither
the supervisor's loop nor the other maintenance. A failure (a full disk, an unwritable folder) is logged
(``backup_failed``) and stored for /health and the metrics; it is never fatal, and the next one is tried at the
next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from store import Store
from store.backup import BackupResult, backup


def backup_name(db_path: str, now: float) -> str:
    """``<db stem>-YYYYmmdd-HHMMSS-ffffff.db``: sorts by time, never collides within one daemon."""
    stem = os.path.splitext(os.path.basename(db_path))[0]
    micros = int(now * 1e6) % 1_000_000
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{micros:06d}.db"


def ours(folder: str, db_path: str) -> list[str]:
    """The scheduled backups of this store in ``folder``, oldest first (nothing else there is touched)."""
    stem = re.escape(os.path.splitext(os.path.basename(db_path))[0])
    pattern = re.compile(rf"^{stem}-\d{{8}}-\d{{6}}-\d{{6}}\.db$")
    return sorted(name for name in os.listdir(folder) if pattern.match(name))


class ScheduledBackups:
    def __init__(self, folder: str, db_path: str, *, interval_s: float, keep: int, clock: Callable[[], float],
                 log: Any, store_factory: Callable[[], Store], min_free_bytes: int = 0) -> None:
        self.folder, self.db_path = os.path.abspath(folder), db_path
        self.min_free_bytes = min_free_bytes  # MIN_FREE_DISK_MB: a backup on the store's disk leaves it this room
        self.interval_s, self.keep = interval_s, keep
        self.clock, self.log, self.store_factory = clock, log, store_factory
        self.next_at = clock()  # the first one at start: a daemon restarted often still gets its backups
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        self.store: Store | None = None  # the worker thread's own
        self.busy: asyncio.Future[BackupResult | None] | None = None

    def poll(self) -> None:
        """Start a backup on the worker thread when one is due and none is running."""
        if (self.busy is not None and not self.busy.done()) or self.clock() < self.next_at:
            return
        self.next_at = self.clock() + self.interval_s
        self.busy = asyncio.get_running_loop().run_in_executor(self.pool, self.run_once)

    def run_once(self) -> BackupResult | None:
        """One backup, checked, then the oldest beyond BACKUP_KEEP removed; None when it failed."""
        try:
            os.makedirs(self.folder, exist_ok=True)
            self._check_room()
            target = os.path.join(self.folder, backup_name(self.db_path, time.time()))
            result = backup(self.db_path, target)  # integrity_check on the copy before it takes its name
        except Exception as exc:  # disk full, unwritable folder, a copy that failed its check: reported, not fatal
            self._cleanup_partials()
            error = f"{type(exc).__name__}: {exc}"
            self.log.error("backup_failed", backup_dir=self.folder, error=error)
            self._record("backup_failed", backup_dir=self.folder, error=error)
            return None
        removed = self._prune()
        self.log.info("backup_completed", path=result.path, bytes=result.bytes, pages=result.pages,
                      seconds=result.seconds, removed=removed)
        self._record("backup_completed", path=result.path, bytes=result.bytes, seconds=result.seconds)
        return result

    def _check_room(self) -> None:
        """Refuse a copy that would not fit, or that would take the store's disk below its floor (new jobs would
        get 507 because of a backup)."""
        need = os.path.getsize(self.db_path)  # the copy holds at most the file's pages
        free = shutil.disk_usage(self.folder).free
        same_disk = os.stat(self.folder).st_dev == os.stat(self.db_path).st_dev
        floor = self.min_free_bytes if same_disk else 0
        if free - need < floor:
            raise OSError(f"no room for a backup of {need} bytes: {free} bytes free in {self.folder}"
                          + (f", {floor} kept free for the store (MIN_FREE_DISK_MB)" if floor else ""))

    def _prune(self) -> list[str]:
        names = ours(self.folder, self.db_path)
        removed = names[:max(0, len(names) - self.keep)]
        for name in removed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.folder, name))
        return removed

    def _cleanup_partials(self) -> None:
        with contextlib.suppress(OSError):
            for name in os.listdir(self.folder):
                if name.endswith(".partial") or name.endswith(".partial-journal"):
                    os.remove(os.path.join(self.folder, name))

    def _record(self, name: str, **detail: Any) -> None:
        try:
            if self.store is None:
                self.store = self.store_factory()
            self.store.record_operation(name, **detail)
        except Exception as exc:  # a full disk refuses this too: the log line above says it
            self.log.warning("operation_not_recorded", operation=name, error=f"{type(exc).__name__}: {exc}")

    def _close_store(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def close(self) -> None:
        self.pool.submit(self._close_store)
        self.pool.shutdown(wait=True)
