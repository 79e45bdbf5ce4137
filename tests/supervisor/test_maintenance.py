"""Periodic maintenance: stale-heartbeat recovery, stuck-job reset and cleanup, each on its interval."""

from __future__ import annotations

from config.settings import Settings
from store import JobStatus, Store
from supervisor.maintenance import Maintenance
from tests.supervisor.fakes import FakeClock, RecordingLog


def test_each_task_is_due_on_its_own_interval() -> None:
    clock = FakeClock(0)
    m = Maintenance(Settings(cleanup_interval_s=60, recovery_interval_s=5), clock, RecordingLog())
    assert m.due() == []
    clock.advance(5)
    assert m.due() == ["recovery"]
    assert m.due() == []
    clock.advance(55)
    assert m.due() == ["recovery", "cleanup"]
    m.close()


def test_a_round_recovers_stale_jobs_resets_stuck_ones_and_deletes_old_finished_ones(db_path: str) -> None:
    now = [10_000_000.0]
    store = Store(db_path, clock=lambda: now[0])
    old_done = store.create_job({})
    store.claim("w")
    store.complete(old_done.id, "w", {"images": []})
    stale = store.create_job({})
    store.claim("dead-worker")
    now[0] += 48 * 3600
    log = RecordingLog()
    settings = Settings(heartbeat_stale_s=30, cleanup_max_age_hours=24, stuck_max_running_hours=2)
    m = Maintenance(settings, FakeClock(0), log, store_factory=lambda: store)
    m.run(["recovery", "cleanup"])
    assert store.get_job(stale.id).status is JobStatus.PENDING
    assert [j.id for j in store.list_jobs().jobs] == [stale.id]
    assert log.events("maintenance_cleanup")[0]["deleted"] == 1
    assert log.events("jobs_recovered")[0]["reason"] == "heartbeat_stale"
    m.close()
    store.close()


def test_the_hourly_reset_stops_only_live_jobs_past_their_own_deadline(db_path: str) -> None:
    """STUCK_MAX_RUNNING_HOURS counts past each job's deadline; a live job is flagged, never requeued."""
    now = [10_000_000.0]
    store = Store(db_path, clock=lambda: now[0])
    week = store.create_job({}, timeout_s=7 * 86400)
    default = store.create_job({})  # JOB_TIMEOUT_S (1 h) applies
    store.claim("w")
    store.claim("w")
    now[0] += 4 * 3600
    store.heartbeat("w")
    log = RecordingLog()
    settings = Settings(heartbeat_stale_s=30, stuck_max_running_hours=2, job_timeout_s=3600)
    m = Maintenance(settings, FakeClock(0), log, store_factory=lambda: store)
    m.run(["cleanup"])
    assert log.events("jobs_stop_requested")[0]["jobs"] == [default.id]
    assert log.events("jobs_recovered") == []
    assert {store.get_job(j.id).status for j in (week, default)} == {JobStatus.RUNNING}
    m.close()
    store.close()


def test_the_maintenance_thread_checkpoints_before_the_writers_autocheckpoint(db_path: str) -> None:
    """A backlog of CHECKPOINT_PAGES makes the next poll checkpoint on the maintenance thread, so no job's
    commit (at wal_autocheckpoint, 4000 pages) has to; a smaller one waits."""
    import asyncio
    import os

    from store import InputImage, wal
    from supervisor.maintenance import CHECKPOINT_PAGES

    writer = Store(db_path)
    maintenance_store = Store(db_path, migrate_schema=False)
    m = Maintenance(Settings(sqlite_db_path=db_path), FakeClock(0), RecordingLog(),
                    store_factory=lambda: maintenance_store)
    wal.checkpoint(writer.conn)

    async def poll() -> None:
        m.poll()
        if m.busy is not None:
            await m.busy

    writer.create_job({"1": {}}, images=[InputImage(name="a.png", data=os.urandom(100_000))])
    small = wal.backlog_pages(db_path)
    assert 0 < small < CHECKPOINT_PAGES
    asyncio.run(poll())
    assert wal.backlog_pages(db_path) == small
    writer.create_job({"1": {}}, images=[InputImage(name="b.png", data=os.urandom(CHECKPOINT_PAGES * 4096))])
    assert CHECKPOINT_PAGES <= wal.backlog_pages(db_path) < 4000
    asyncio.run(poll())
    assert wal.backlog_pages(db_path) == 0
    m.close()
    writer.close()
