"""The webhook outbox: an event is written with its job's transition (whatever path takes it), claimed with a
lease, and every attempt recorded."""

from __future__ import annotations

import pytest

from store import (
    Attempt,
    DeliveryState,
    InputImage,
    JobNotFound,
    JobStatus,
    OutputFile,
    Progress,
    Store,
    WebhookSpec,
)
from store.outbox import EVENTS
from tests.store.test_jobs import WORKFLOW, Clock

HOOK = WebhookSpec(url="https://hooks.example.com/x")
ALL = WebhookSpec(url="https://hooks.example.com/all", events=EVENTS, progress_every_s=5.0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cstore(db_path: str, clock: Clock) -> Store:
    return Store(db_path, clock=clock)


def events(store: Store, job_id: str) -> list[str]:
    return [d.event for d in store.webhook_deliveries(job_id)]


def test_completion_writes_its_event_with_the_job_as_it_ended(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.claim("w")
    cstore.complete(job.id, "w", {"images": []})
    [claimed] = cstore.claim_deliveries("d", limit=10, lease_s=30)
    assert (claimed.job_id, claimed.event, claimed.url) == (job.id, "job.completed", HOOK.url)
    assert claimed.job["status"] == "completed" and claimed.job["result"] == {"images": []}
    assert claimed.event_id.startswith("msg_")


def test_a_job_without_webhook_writes_no_event(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.complete(job.id, "w", {})
    assert cstore.claim_deliveries("d", limit=10, lease_s=30) == []


def test_started_and_progress_only_when_asked_and_progress_throttled(cstore: Store, clock: Clock) -> None:
    quiet = cstore.create_job(WORKFLOW, webhook=HOOK)
    loud = cstore.create_job(WORKFLOW, webhook=ALL)
    for job in (quiet, loud):
        cstore.claim("w")
        for value in range(3):  # within 5 s: one job.progress
            cstore.record_progress(job.id, "w", Progress(value=value, max=10))
        clock.now += 6
        cstore.record_progress(job.id, "w", Progress(value=9, max=10))
    assert events(cstore, quiet.id) == []
    assert events(cstore, loud.id) == ["job.started", "job.progress", "job.progress"]


@pytest.mark.parametrize("path", ["cancel_pending", "cancel_running", "fail", "requeue_last", "recover",
                                  "release_cancelled", "reset_stuck"])
def test_every_path_that_ends_a_job_writes_its_event(cstore: Store, clock: Clock, path: str) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK, max_attempts=1)
    if path == "cancel_pending":
        cstore.cancel(job.id)
    else:
        cstore.claim("w")
    if path == "cancel_running":
        cstore.cancel(job.id)
        cstore.finish_cancelled(job.id, "w")
    elif path == "fail":
        cstore.fail(job.id, "w", {"type": "x", "message": "y"})
    elif path == "requeue_last":
        cstore.requeue(job.id, "w", {"type": "comfyui_unavailable", "message": "z"})
    elif path == "recover":
        cstore.recover_worker("w")
    elif path == "release_cancelled":
        cstore.cancel(job.id)
        cstore.release(job.id, "w")
    elif path == "reset_stuck":
        clock.now += 3 * 3600
        cstore.reset_stuck(1, stale_after_s=60)
    status = cstore.get_job_info(job.id).status
    assert status.terminal
    assert events(cstore, job.id) == [f"job.{status}"]


def test_requeue_with_attempts_left_is_no_event(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK, max_attempts=3)
    cstore.claim("w")
    assert cstore.requeue(job.id, "w", {"type": "x", "message": "y"}) is JobStatus.PENDING
    assert events(cstore, job.id) == []


def test_a_transition_that_rolls_back_leaves_no_event(cstore: Store) -> None:
    """The event is in the transition's transaction: an output that cannot be written undoes both."""
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.claim("w")
    twice = [OutputFile(0, "a.png", "image/png", b"1"), OutputFile(0, "b.png", "image/png", b"2")]
    with pytest.raises(Exception):  # noqa: B017  (the primary key of job_outputs)
        cstore.complete(job.id, "w", {}, outputs=twice)
    assert cstore.get_job_info(job.id).status is JobStatus.RUNNING
    assert events(cstore, job.id) == []


def test_lease_hides_a_claimed_delivery_until_it_expires(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.cancel(job.id)
    [first] = cstore.claim_deliveries("a", limit=10, lease_s=30)
    assert cstore.claim_deliveries("b", limit=10, lease_s=30) == []
    clock.now += 31
    [again] = cstore.claim_deliveries("b", limit=10, lease_s=30)
    assert again.id == first.id
    # the first owner's late answer is not recorded: the lease is b's now
    assert not cstore.record_attempt(first, "a", Attempt(clock.now, 200, None, None), DeliveryState.DELIVERED)
    assert cstore.record_attempt(again, "b", Attempt(clock.now, 200, None, None), DeliveryState.DELIVERED)


def test_release_frees_a_dead_process_leases_at_once(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.cancel(job.id)
    [first] = cstore.claim_deliveries("host-webhooks", limit=10, lease_s=300)
    assert cstore.release_deliveries("host-webhooks") == 1
    assert [d.id for d in cstore.claim_deliveries("host-webhooks", limit=10, lease_s=300)] == [first.id]


def test_attempts_are_recorded_and_retries_wait_for_next_at(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.cancel(job.id)
    [d] = cstore.claim_deliveries("a", limit=10, lease_s=30)
    assert cstore.record_attempt(d, "a", Attempt(clock.now, 503, None, clock.now + 10), DeliveryState.PENDING)
    assert cstore.claim_deliveries("a", limit=10, lease_s=30) == []
    clock.now += 11
    [d] = cstore.claim_deliveries("a", limit=10, lease_s=30)
    assert d.attempts == 1
    assert cstore.record_attempt(d, "a", Attempt(clock.now, None, "timed out", None), DeliveryState.FAILED)
    [info] = cstore.webhook_deliveries(job.id)
    assert info.state is DeliveryState.FAILED and info.next_at is None
    assert [(a.status_code, a.error) for a in info.attempts] == [(503, None), (None, "timed out")]
    figures = cstore.webhook_figures()
    assert (figures.delivered, figures.failed_attempts, figures.given_up, figures.backlog) == (0, 2, 1, 0)


def test_redeliver_keeps_the_event_id_and_counts_backlog(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.cancel(job.id)
    [d] = cstore.claim_deliveries("a", limit=10, lease_s=30)
    cstore.record_attempt(d, "a", Attempt(clock.now, 204, None, None), DeliveryState.DELIVERED)
    assert cstore.webhook_figures().backlog == 0
    new = cstore.redeliver(job.id)
    [again] = cstore.claim_deliveries("a", limit=10, lease_s=30)
    assert (again.id, again.event_id, again.event) == (new, d.event_id, "job.cancelled")
    assert cstore.webhook_figures().backlog == 1 and cstore.webhook_figures().delivered == 1


def test_redeliver_without_event_or_job(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    assert cstore.redeliver(job.id) is None
    with pytest.raises(JobNotFound):
        cstore.redeliver("nope")
    with pytest.raises(JobNotFound):
        cstore.webhook_deliveries("nope")


def test_an_event_outlives_its_job(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW, webhook=HOOK, images=[InputImage("a.png", b"x")])
    cstore.cancel(job.id)
    cstore.delete_job(job.id)
    assert [d.job_id for d in cstore.claim_deliveries("a", limit=10, lease_s=30)] == [job.id]
    assert isinstance(cstore.webhook_deliveries(job.id), list)


def test_cleanup_removes_only_finished_old_deliveries(cstore: Store, clock: Clock) -> None:
    done, waiting = (cstore.create_job(WORKFLOW, webhook=HOOK) for _ in range(2))
    for job in (done, waiting):
        cstore.cancel(job.id)
    first = next(d for d in cstore.claim_deliveries("a", limit=10, lease_s=30) if d.job_id == done.id)
    cstore.record_attempt(first, "a", Attempt(clock.now, 200, None, None), DeliveryState.DELIVERED)
    clock.now += 100
    assert cstore.cleanup_deliveries(50) == 1
    assert cstore.webhook_deliveries(done.id) == [] and len(cstore.webhook_deliveries(waiting.id)) == 1


def test_deliveries_due_is_a_read_that_sees_what_a_claim_would(cstore: Store, clock: Clock) -> None:
    assert not cstore.deliveries_due()
    job = cstore.create_job(WORKFLOW, webhook=HOOK)
    cstore.cancel(job.id)
    changes = cstore.conn.total_changes()
    assert cstore.deliveries_due() and cstore.conn.total_changes() == changes
    cstore.claim_deliveries("a", limit=10, lease_s=30)
    assert not cstore.deliveries_due()  # leased
    clock.now += 31
    assert cstore.deliveries_due()
