"""The stuck-job reset: a job whose executor still heartbeats is asked to stop through it, never requeued."""

from __future__ import annotations

import pytest

from store import JobStatus, Lease, Store
from tests.store.test_jobs import WORKFLOW, Clock

HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cstore(db_path: str, clock: Clock) -> Store:
    return Store(db_path, clock=clock)


def test_reset_stuck_asks_a_heartbeating_job_to_stop_and_leaves_it_running(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    clock.now += 3 * HOUR
    cstore.heartbeat("w")
    reset = cstore.reset_stuck(2, stale_after_s=30)
    assert (reset.recovered, reset.stopping) == ([], [job.id])
    running = cstore.get_job(job.id)
    assert (running.status, running.worker_id, running.attempts) == (JobStatus.RUNNING, "w", 1)
    assert cstore.heartbeat("w") == {job.id: Lease(stop_requested=True)}  # how its executor learns it
    assert cstore.claim("other") is None  # nothing to run twice


def test_reset_stuck_with_zero_hours_requeues_no_live_job(cstore: Store, clock: Clock) -> None:
    jobs = [cstore.create_job(WORKFLOW) for _ in range(2)]
    cstore.claim("w")
    cstore.claim("w")
    clock.now += 1
    reset = cstore.reset_stuck(0, stale_after_s=30)
    assert reset.recovered == [] and sorted(reset.stopping) == sorted(j.id for j in jobs)
    assert cstore.stats()["running"] == 2


def test_reset_stuck_requeues_a_job_whose_heartbeat_is_stale(cstore: Store, clock: Clock) -> None:
    stale, live = cstore.create_job(WORKFLOW), cstore.create_job(WORKFLOW)
    cstore.claim("dead")
    cstore.claim("alive")
    clock.now += 3 * HOUR
    cstore.heartbeat("alive")
    reset = cstore.reset_stuck(2, stale_after_s=30)
    assert [(r.id, r.status) for r in reset.recovered] == [(stale.id, JobStatus.PENDING)]
    assert reset.stopping == [live.id]
    assert cstore.get_job(stale.id).status is JobStatus.PENDING


def test_reset_stuck_leaves_jobs_under_the_limit_alone(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    clock.now += HOUR
    cstore.heartbeat("w")
    reset = cstore.reset_stuck(2, stale_after_s=30)
    assert (reset.recovered, reset.stopping) == ([], [])
    assert cstore.heartbeat("w") == {job.id: Lease()}


def test_with_deadlines_a_job_within_its_own_deadline_is_not_stopped(cstore: Store, clock: Clock) -> None:
    """The hourly maintenance adds each job's own deadline to the limit (its timeout_s, else the default)."""
    week = cstore.create_job(WORKFLOW, timeout_s=7 * 24 * HOUR)
    default = cstore.create_job(WORKFLOW)  # no timeout_s of its own: the default deadline (1 h) applies
    cstore.claim("w")
    cstore.claim("w")
    clock.now += 4 * HOUR  # past 2 h and past 1 h + 2 h, far within 7 days + 2 h
    cstore.heartbeat("w")
    reset = cstore.reset_stuck(2, stale_after_s=30, default_timeout_s=HOUR)
    assert (reset.recovered, reset.stopping) == ([], [default.id])
    clock.now += 7 * 24 * HOUR
    cstore.heartbeat("w")
    assert set(cstore.reset_stuck(2, stale_after_s=30, default_timeout_s=HOUR).stopping) == {week.id, default.id}
    assert cstore.heartbeat("w")[week.id] == Lease(stop_requested=True)


def test_a_requeued_job_is_claimed_again_without_the_stop_flag(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    clock.now += 3 * HOUR
    cstore.heartbeat("w")
    cstore.reset_stuck(2, stale_after_s=30)
    clock.now += 60  # then its executor died: the stale heartbeat requeues it
    assert [r.id for r in cstore.recover_stale(30)] == [job.id]
    cstore.claim("w2")
    assert cstore.heartbeat("w2") == {job.id: Lease()}
