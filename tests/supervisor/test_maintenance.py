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
