"""Periodic store maintenance: cleanup of old terminal jobs, stuck and stale running jobs, the store's size
cap (STORE_MAX_MB) and its disk reserve.

Runs on one worker thread with its own Store (a store connection belongs to one thread), so a long cleanup
never holds up the supervisor's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from config.settings import Settings
from store import Store, StoreFull, wal
from store.disk import MB, DiskState
from supervisor.backups import ScheduledBackups

EVICT_TO = 0.9  # past STORE_MAX_MB, outputs are removed until the store uses this fraction of it
# WAL pages (4 KiB) not yet copied back that make the maintenance thread checkpoint: below the writers'
# wal_autocheckpoint (4000), so a job's commit does not pay for the checkpoint (store/wal.py)
CHECKPOINT_PAGES = 1000


class Maintenance:
    def __init__(self, settings: Settings, clock: Callable[[], float], log: Any,
                 store_factory: Callable[[], Store] | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.log = log
        self.store_factory = store_factory or (lambda: Store.from_settings(settings, migrate_schema=False))
        now = clock()
        self.next_cleanup = now + settings.cleanup_interval_s
        self.next_recovery = now + settings.recovery_interval_s
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maintenance")
        self.local = threading.local()
        self.busy: asyncio.Future[None] | None = None
        self.disk_state = DiskState.OK
        self.backups = ScheduledBackups(settings.backup_dir, settings.sqlite_db_path,
                                        interval_s=settings.backup_interval_s, keep=settings.backup_keep,
                                        clock=clock, log=log, store_factory=self.store_factory,
                                        min_free_bytes=int(settings.min_free_disk_mb * MB)) \
            if settings.backup_dir else None

    def _store(self) -> Store:
        if getattr(self.local, "store", None) is None:
            self.local.store = self.store_factory()
        return self.local.store  # type: ignore[no-any-return]

    def due(self) -> list[str]:
        """The tasks whose time has come (and reschedules them)."""
        now, tasks = self.clock(), []
        if now >= self.next_recovery:
            self.next_recovery = now + self.settings.recovery_interval_s
            tasks.append("recovery")
        if now >= self.next_cleanup:
            self.next_cleanup = now + self.settings.cleanup_interval_s
            tasks.append("cleanup")
        return tasks

    def run(self, tasks: list[str]) -> None:
        """Run the tasks on the worker thread (blocking; call through ``poll``). The space check goes with
        each recovery (every RECOVERY_INTERVAL_S: one statement and a statvfs unless over the cap)."""
        s, store = self.settings, self._store()
        if "checkpoint" in tasks:
            wal.checkpoint(store.conn)
        if "recovery" in tasks:
            self.space(store)
            recovered = store.recover_stale(s.heartbeat_stale_s)
            if recovered:
                self.log.warning("jobs_recovered", reason="heartbeat_stale", jobs=[r.id for r in recovered],
                                 statuses=[str(r.status) for r in recovered])
        if "cleanup" in tasks:
            stuck = store.reset_stuck(s.stuck_max_running_hours, stale_after_s=s.heartbeat_stale_s,
                                      default_timeout_s=s.job_timeout_s)
            if stuck.recovered:
                self.log.warning("jobs_recovered", reason="stuck", jobs=[r.id for r in stuck.recovered],
                                 statuses=[str(r.status) for r in stuck.recovered])
            if stuck.stopping:
                self.log.warning("jobs_stop_requested", reason="stuck", jobs=stuck.stopping)
            deleted = store.cleanup(s.cleanup_max_age_hours)
            self.log.info("maintenance_cleanup", deleted=deleted, reset_stuck=len(stuck.recovered),
                          stop_requested=len(stuck.stopping), max_age_hours=s.cleanup_max_age_hours)

    def space(self, store: Store) -> None:
        """Keep the store under STORE_MAX_MB (oldest finished jobs' files first), hold the disk reserve, and
        log the disk's state when it changes (``disk_low``, ``store_full``, ``store_recovered``)."""
        cap = int(self.settings.store_max_mb * MB)
        used = store.space().store_used_bytes
        if cap and used > cap:
            jobs, freed = store.evict_outputs(int(cap * EVICT_TO))
            self.log.warning("outputs_evicted", jobs=jobs, bytes=freed, store_used_bytes=used - freed,
                             store_max_bytes=cap)
        store.ensure_reserve()
        space = store.space()
        state = store.disk_state(space)
        if state is not self.disk_state:
            fields = {"state": str(state), "room_bytes": space.room_bytes, "disk_free_bytes": space.disk_free_bytes,
                      "store_bytes": space.store_bytes, "min_free_bytes": store.min_free_bytes}
            if state is DiskState.OK:
                self.log.info("store_recovered", **fields)
            else:
                self.log.warning("store_full" if state is DiskState.FULL else "disk_low", **fields)
            self.disk_state = state

    def poll(self) -> None:
        """Start the due tasks on the worker thread unless the previous ones are still running (a scheduled
        backup runs on a thread of its own)."""
        if self.backups:
            self.backups.poll()
        if self.busy is not None and not self.busy.done():
            return
        tasks = self.due()
        if wal.backlog_pages(self.settings.sqlite_db_path) >= CHECKPOINT_PAGES:
            tasks.insert(0, "checkpoint")
        if tasks:
            self.busy = asyncio.get_running_loop().run_in_executor(self.pool, self._guarded, tasks)

    def _guarded(self, tasks: list[str]) -> None:
        try:
            self.run(tasks)
        except StoreFull as exc:  # the space check ran first; the rest waits for room (the next interval)
            self.log.warning("maintenance_deferred", tasks=tasks, reason=str(exc))
        except Exception as exc:  # a failed round is retried at the next interval
            self.log.error("maintenance_failed", tasks=tasks, error=repr(exc))

    def _close_store(self) -> None:
        store = getattr(self.local, "store", None)
        if store is not None:
            store.close()
            self.local.store = None

    def close(self) -> None:
        self.pool.submit(self._close_store)
        self.pool.shutdown(wait=True)
        if self.backups:
            self.backups.close()
