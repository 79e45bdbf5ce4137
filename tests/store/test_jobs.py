"""The store contract: every operation on a real apsw database file."""

from __future__ import annotations

import itertools

import pytest

from store import InputImage, InvalidTransition, JobNotFound, JobStatus, Lease, OutputFile, Progress, Store

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 0.001  # strictly increasing, like real creation times
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cstore(db_path: str, clock: Clock) -> Store:
    return Store(db_path, clock=clock)


def test_create_then_get_round_trips_request_inputs_and_defaults(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, images=[InputImage("a.png", b"\x89PNG")], options={"x": 1},
                            priority=3, max_attempts=2, timeout_s=9.5)
    got = cstore.get_job(job.id)
    assert got == job
    assert got.status is JobStatus.PENDING and got.workflow == WORKFLOW and got.options == {"x": 1}
    assert (got.priority, got.max_attempts, got.timeout_s, got.attempts) == (3, 2, 9.5, 0)
    assert got.started_at is None and got.completed_at is None and not got.cancel_requested
    assert cstore.get_inputs(job.id) == [InputImage("a.png", b"\x89PNG")]


def test_get_unknown_job_raises_not_found(cstore: Store) -> None:
    with pytest.raises(JobNotFound):
        cstore.get_job("nope")


def test_claim_takes_priority_then_age(cstore: Store) -> None:
    old = cstore.create_job(WORKFLOW)
    new = cstore.create_job(WORKFLOW)
    urgent = cstore.create_job(WORKFLOW, priority=5)
    order = [cstore.claim("w").id for _ in range(3)]  # type: ignore[union-attr]
    assert order == [urgent.id, old.id, new.id]
    assert cstore.claim("w") is None


def test_claim_marks_running_with_worker_attempt_and_heartbeat(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    claimed = cstore.claim("w1")
    assert claimed is not None and claimed.id == job.id
    assert claimed.status is JobStatus.RUNNING and claimed.worker_id == "w1" and claimed.attempts == 1
    assert claimed.started_at is not None and claimed.heartbeat_at == claimed.started_at


def test_queue_position_counts_jobs_claimed_before(cstore: Store) -> None:
    a, b = cstore.create_job(WORKFLOW), cstore.create_job(WORKFLOW)
    c = cstore.create_job(WORKFLOW, priority=1)
    d = cstore.create_job(WORKFLOW, priority=-1)
    assert cstore.pending_position(d.id) == 4
    assert [cstore.pending_position(j.id) for j in (c, a, b)] == [1, 2, 3]
    cstore.claim("w")
    assert cstore.pending_position(c.id) is None
    assert cstore.pending_position(b.id) == 2


def test_complete_stores_result_and_output_bytes(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    out = OutputFile(0, "x.png", "image/png", b"\x89PNG-bytes")
    cstore.complete(job.id, "w", {"images": [{"filename": "x.png", "type": "base64", "output_index": 0}]}, [out])
    done = cstore.get_job(job.id)
    assert done.status is JobStatus.COMPLETED and done.completed_at is not None
    assert done.result == {"images": [{"filename": "x.png", "type": "base64", "output_index": 0}]}
    assert cstore.get_output(job.id, 0) == out and cstore.get_outputs(job.id) == [out]
    assert cstore.get_output(job.id, 1) is None


def test_complete_by_another_worker_is_refused(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w1")
    with pytest.raises(InvalidTransition):
        cstore.complete(job.id, "w2", {})
    assert cstore.get_job(job.id).status is JobStatus.RUNNING


@pytest.mark.parametrize("op", ["complete", "fail", "finish_cancelled", "requeue", "release", "progress"])
def test_running_only_operations_refuse_a_pending_job(cstore: Store, op: str) -> None:
    job = cstore.create_job(WORKFLOW)
    calls = {
        "complete": lambda: cstore.complete(job.id, "w", {}),
        "fail": lambda: cstore.fail(job.id, "w", {"type": "x", "message": "m"}),
        "finish_cancelled": lambda: cstore.finish_cancelled(job.id, "w"),
        "requeue": lambda: cstore.requeue(job.id, "w", {"type": "x", "message": "m"}),
        "release": lambda: cstore.release(job.id, "w"),
        "progress": lambda: cstore.record_progress(job.id, "w", Progress(1, 2)),
    }
    with pytest.raises(InvalidTransition):
        calls[op]()
    assert cstore.get_job(job.id).status is JobStatus.PENDING


def test_terminal_states_are_final(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.fail(job.id, "w", {"type": "execution", "message": "boom"})
    for attempt in (lambda: cstore.complete(job.id, "w", {}), lambda: cstore.cancel(job.id),
                    lambda: cstore.requeue(job.id, "w", {})):
        with pytest.raises(InvalidTransition):
            attempt()
    failed = cstore.get_job(job.id)
    assert failed.status is JobStatus.FAILED and failed.error == {"type": "execution", "message": "boom"}


def test_operations_on_unknown_jobs_raise_not_found(cstore: Store) -> None:
    for attempt in (lambda: cstore.complete("nope", "w", {}), lambda: cstore.cancel("nope"),
                    lambda: cstore.delete_job("nope")):
        with pytest.raises(JobNotFound):
            attempt()


def test_progress_and_heartbeat_renew_the_lease(cstore: Store, clock: Clock) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.record_progress(job.id, "w", Progress(3, 10, "2", "KSampler"))
    assert cstore.get_job(job.id).progress == Progress(3, 10, "2", "KSampler")
    before = cstore.get_job(job.id).heartbeat_at
    clock.now += 5
    assert cstore.heartbeat("w") == {job.id: Lease()}
    assert cstore.get_job(job.id).heartbeat_at > before  # type: ignore[operator]
    assert cstore.heartbeat("other") == {}


def test_heartbeat_with_job_ids_renews_only_those(cstore: Store, clock: Clock) -> None:
    run, leftover = cstore.create_job(WORKFLOW), cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.claim("w")
    before = cstore.get_job(leftover.id).heartbeat_at
    clock.now += 5
    assert cstore.heartbeat("w", [run.id]) == {run.id: Lease()}
    assert cstore.get_job(leftover.id).heartbeat_at == before
    assert cstore.heartbeat("w", []) == {}


def test_cancel_pending_is_immediate(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    assert cstore.cancel(job.id) is JobStatus.CANCELLED
    cancelled = cstore.get_job(job.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.completed_at is not None
    assert cstore.claim("w") is None


def test_cancel_running_is_requested_then_seen_by_heartbeat(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    assert cstore.cancel(job.id) is JobStatus.RUNNING
    assert cstore.heartbeat("w") == {job.id: Lease(cancel_requested=True)}
    cstore.finish_cancelled(job.id, "w", {"images": []})
    done = cstore.get_job(job.id)
    assert done.status is JobStatus.CANCELLED and done.result == {"images": []}
    assert done.error is not None and done.error["type"] == "cancelled"


def test_requeue_until_attempts_are_used_up_then_fail(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, max_attempts=2)
    error = {"type": "comfyui_unavailable", "message": "refused"}
    cstore.claim("w")
    assert cstore.requeue(job.id, "w", error) is JobStatus.PENDING
    again = cstore.claim("w")
    assert again is not None and again.attempts == 2
    assert cstore.requeue(job.id, "w", error) is JobStatus.FAILED
    failed = cstore.get_job(job.id)
    assert failed.error == error and failed.completed_at is not None


def test_release_gives_the_attempt_back(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW, max_attempts=1)
    cstore.claim("w")
    assert cstore.release(job.id, "w") is JobStatus.PENDING
    released = cstore.get_job(job.id)
    assert released.attempts == 0 and released.worker_id is None
    assert cstore.claim("w") is not None


def test_requeue_of_a_job_asked_to_cancel_cancels_it(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.cancel(job.id)
    assert cstore.requeue(job.id, "w", {"type": "x", "message": "m"}) is JobStatus.CANCELLED


def test_release_of_a_job_asked_to_cancel_cancels_it_with_the_cancelled_error(cstore: Store) -> None:
    """Every other way into `cancelled` records error type `cancelled`; a release must too."""
    job = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.cancel(job.id)
    assert cstore.release(job.id, "w") is JobStatus.CANCELLED
    done = cstore.get_job(job.id)
    assert done.error is not None and done.error["type"] == "cancelled" and done.completed_at is not None


def test_recover_worker_touches_only_that_workers_jobs(cstore: Store) -> None:
    mine = [cstore.create_job(WORKFLOW) for _ in range(2)]
    theirs = cstore.create_job(WORKFLOW)
    last_try = cstore.create_job(WORKFLOW, max_attempts=1)
    for _ in mine:
        cstore.claim("dead")
    cstore.claim("alive")
    cstore.claim("dead")
    recovered = {r.id: r.status for r in cstore.recover_worker("dead")}
    assert recovered == {mine[0].id: JobStatus.PENDING, mine[1].id: JobStatus.PENDING,
                         last_try.id: JobStatus.FAILED}
    assert cstore.get_job(theirs.id).status is JobStatus.RUNNING
    assert cstore.get_job(last_try.id).error["type"] == "comfyui_unavailable"  # type: ignore[index]


def test_recover_stale_uses_the_heartbeat(cstore: Store, clock: Clock) -> None:
    stale, fresh = cstore.create_job(WORKFLOW), cstore.create_job(WORKFLOW)
    cstore.claim("a")
    clock.now += 100
    cstore.claim("b")
    assert [r.id for r in cstore.recover_stale(50)] == [stale.id]
    assert cstore.get_job(fresh.id).status is JobStatus.RUNNING
    assert cstore.get_job(stale.id).status is JobStatus.PENDING


def test_cleanup_deletes_only_old_terminal_jobs_with_their_outputs(cstore: Store, clock: Clock) -> None:
    old = []
    for i in range(7):
        job = cstore.create_job(WORKFLOW, images=[InputImage("a.png", b"x")])
        cstore.claim("w")
        if i % 2:
            cstore.complete(job.id, "w", {}, [OutputFile(0, "o.png", "image/png", b"o")])
        else:
            cstore.fail(job.id, "w", {"type": "x", "message": "m"})
        old.append(job.id)
    pending = cstore.create_job(WORKFLOW)
    clock.now += 25 * 3600
    recent = cstore.create_job(WORKFLOW)
    cstore.claim("w")
    cstore.claim("w")
    cstore.complete(recent.id, "w", {})
    assert cstore.cleanup(24, batch=3) == 7
    assert {j.id for j in cstore.list_jobs().jobs} == {pending.id, recent.id}
    assert cstore.get_outputs(old[1]) == [] and cstore.get_inputs(old[1]) == []


def test_delete_job_only_when_terminal(cstore: Store) -> None:
    job = cstore.create_job(WORKFLOW)
    with pytest.raises(InvalidTransition):
        cstore.delete_job(job.id)
    cstore.cancel(job.id)
    cstore.delete_job(job.id)
    with pytest.raises(JobNotFound):
        cstore.get_job(job.id)


def test_stats_follow_every_transition(cstore: Store) -> None:
    jobs = [cstore.create_job(WORKFLOW) for _ in range(5)]
    cstore.claim("w")
    cstore.complete(jobs[0].id, "w", {})
    cstore.claim("w")
    cstore.fail(jobs[1].id, "w", {"type": "x", "message": "m"})
    cstore.claim("w")
    cstore.cancel(jobs[3].id)
    cstore.delete_job(jobs[0].id)
    assert cstore.stats() == {"pending": 1, "running": 1, "completed": 0, "failed": 1, "cancelled": 1, "total": 4}


def test_list_pages_newest_first_and_filters_by_status(cstore: Store) -> None:
    jobs = [cstore.create_job(WORKFLOW) for _ in range(7)]
    cstore.claim("w")
    seen, cursor = [], None
    for _ in itertools.count():
        page = cstore.list_jobs(limit=3, cursor=cursor)
        seen += [j.id for j in page.jobs]
        if not (cursor := page.next_cursor):
            break
    assert seen == [j.id for j in reversed(jobs)]
    assert [j.id for j in cstore.list_jobs(JobStatus.RUNNING).jobs] == [jobs[0].id]
    with pytest.raises(ValueError):
        cstore.list_jobs(cursor="garbage!")


def test_components_are_upserted(cstore: Store) -> None:
    cstore.set_component("comfyui-0", "starting", pid=10)
    cstore.set_component("comfyui-0", "running", pid=10, restarts=1, detail="ok")
    cstore.set_component("http", "running", pid=11)
    comps = {c.name: c for c in cstore.components()}
    assert set(comps) == {"comfyui-0", "http"}
    assert (comps["comfyui-0"].state, comps["comfyui-0"].restarts, comps["comfyui-0"].detail) == ("running", 1, "ok")
