"""The forwarder's side of the store: its claim under the overflow policy, the remote id written before
anything depends on it (a job that may be on RunPod under an unknown id is never taken again), where jobs ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store import InvalidTransition, JobStatus, Store

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[Store, Clock]]:
    clock = Clock()
    s = Store(str(tmp_path / "jobs.db"), clock=clock)
    yield s, clock
    s.close()


def test_depth_policy_takes_a_job_only_while_more_than_depth_are_pending(store: Store) -> None:
    first = store.create_job(WORKFLOW).id
    store.create_job(WORKFLOW)
    assert store.claim_remote("fw", queue_depth=2, wait_s=None) is None  # 2 pending: not more than 2
    claimed = store.claim_remote("fw", queue_depth=1, wait_s=None)
    assert claimed is not None and claimed.id == first  # the head of the claim order
    assert store.claim_remote("fw", queue_depth=1, wait_s=None) is None  # 1 left: not more than 1
    assert store.claim_remote("fw", queue_depth=None, wait_s=None) is None  # no policy: never


def test_age_policy_takes_a_job_once_it_waited_longer_than_that(clocked: tuple[Store, Clock]) -> None:
    store, clock = clocked
    job_id = store.create_job(WORKFLOW).id
    assert store.claim_remote("fw", queue_depth=None, wait_s=30) is None
    clock.now += 30
    assert store.claim_remote("fw", queue_depth=None, wait_s=30) is None  # waited 30 s: not longer
    clock.now += 0.001
    claimed = store.claim_remote("fw", queue_depth=None, wait_s=30)
    assert claimed is not None and claimed.id == job_id


def test_where_a_job_ran_is_recorded_at_claim_and_counted_when_it_ends(store: Store) -> None:
    local, remote = store.create_job(WORKFLOW).id, store.create_job(WORKFLOW).id
    claimed = store.claim("w")
    assert claimed is not None and claimed.ran_on == "local"
    forwarded = store.claim_remote("fw", queue_depth=0, wait_s=None)
    assert forwarded is not None and forwarded.ran_on == "runpod"
    assert store.get_job_info(local).ran_on == "local" and store.get_job_info(remote).ran_on == "runpod"
    assert store.get_job(remote).ran_on == "runpod" and store.list_jobs().jobs[0].ran_on == "runpod"
    assert store.places()["local"]["running"] == 1 and store.places()["runpod"]["running"] == 1
    store.complete(local, "w", {"images": []})
    store.fail(remote, "fw", {"type": "validation", "message": "bad"})
    places = store.places()
    assert places["local"] == {"running": 0, "completed": 1, "failed": 0, "cancelled": 0}
    assert places["runpod"] == {"running": 0, "completed": 0, "failed": 1, "cancelled": 0}
    assert store.create_job(WORKFLOW) and store.get_job_info(store.list_jobs(limit=1).jobs[0].id).ran_on is None


def test_a_job_sent_without_its_id_stored_is_never_taken_by_the_forwarder_again(store: Store) -> None:
    job_id = store.create_job(WORKFLOW).id
    assert store.claim_remote("fw", queue_depth=0, wait_s=0) is not None
    store.mark_remote_sent(job_id, "fw")  # committed before the POST run; the forwarder dies before its answer
    assert store.recover_worker("fw")[0].status is JobStatus.PENDING
    assert store.claim_remote("fw", queue_depth=0, wait_s=0) is None  # may be on RunPod: never sent again
    local = store.claim("w")
    assert local is not None and local.id == job_id  # a local executor still runs it


def test_a_job_already_on_runpod_is_resumed_by_the_forwarder_whatever_the_policy(store: Store) -> None:
    job_id = store.create_job(WORKFLOW).id
    assert store.claim_remote("fw", queue_depth=0, wait_s=None) is not None
    store.mark_remote_sent(job_id, "fw")
    store.set_remote_id(job_id, "fw", "remote-1")
    store.recover_stale(0)  # its forwarder's heartbeat went stale: back to pending, the remote id kept
    resumed = store.claim_remote("fw2", queue_depth=None, wait_s=None)
    assert resumed is not None and resumed.id == job_id
    ref = store.remote_of(job_id)
    assert ref is not None and ref.remote_id == "remote-1"


def test_the_remote_id_is_written_only_after_the_intent_and_only_once(store: Store) -> None:
    job_id = store.create_job(WORKFLOW).id
    assert store.claim_remote("fw", queue_depth=0, wait_s=None) is not None
    with pytest.raises(InvalidTransition):
        store.set_remote_id(job_id, "fw", "r")  # no intent recorded: nothing may depend on a remote job
    store.mark_remote_sent(job_id, "fw")
    with pytest.raises(InvalidTransition):
        store.mark_remote_sent(job_id, "fw")  # a second send of the same job is refused
    with pytest.raises(InvalidTransition):
        store.set_remote_id(job_id, "other", "r")  # not this worker's job
    store.set_remote_id(job_id, "fw", "r")
    with pytest.raises(InvalidTransition):
        store.set_remote_id(job_id, "fw", "r2")
    assert store.running_of("fw") == [job_id]
    store.forget_remote(job_id, "fw")  # RunPod certainly holds nothing: it may be sent again
    store.mark_remote_sent(job_id, "fw")
