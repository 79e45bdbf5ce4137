"""Operations on the whole queue: purge every pending job (RunPod's /purge-queue), count retried jobs."""

from __future__ import annotations

from store import JobStatus, Store

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


def test_purge_cancels_every_pending_job_and_leaves_running_and_finished_ones(store: Store) -> None:
    running = store.create_job(WORKFLOW, options={"comfy_org_api_key": "secret"}).id
    assert store.claim("w") is not None
    done = store.create_job(WORKFLOW).id
    assert store.claim("w") is not None
    store.complete(done, "w", {"images": []})
    pending = {store.create_job(WORKFLOW, options={"comfy_org_api_key": "secret"}).id for _ in range(3)}
    assert set(store.purge_pending()) == pending
    for job_id in pending:
        job = store.get_job(job_id)
        assert job.status is JobStatus.CANCELLED and job.completed_at is not None
        assert job.error is not None and job.error["type"] == "cancelled"
        assert "comfy_org_api_key" not in job.options  # a job that can no longer run keeps no key
    assert store.get_job(running).status is JobStatus.RUNNING
    assert store.get_job(done).status is JobStatus.COMPLETED
    assert store.stats()["cancelled"] == 3 and store.stats()["pending"] == 0
    assert store.purge_pending() == []


def test_retried_counts_live_jobs_on_a_later_attempt(store: Store) -> None:
    first = store.create_job(WORKFLOW).id
    store.create_job(WORKFLOW)
    assert store.retried_count() == 0
    assert store.claim("w") is not None
    assert store.retried_count() == 0  # running its first attempt
    store.requeue(first, "w", {"type": "comfyui_unavailable", "message": "crash"})
    assert store.retried_count() == 1  # waiting for its second
    claimed = store.claim("w")
    assert claimed is not None and claimed.id == first and store.retried_count() == 1  # running its second
    store.complete(first, "w", {"images": []})
    assert store.retried_count() == 0
