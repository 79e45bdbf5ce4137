"""Figures kept in the store for /metrics (store/figures.py, migration 0006): every process adds to them, the
HTTP transport reads them; their size is bounded by names and labels, never by the number of jobs."""

from __future__ import annotations

import math

from store import Store

W = "worker-1"
FLOW = {"1": {"class_type": "EmptyImage", "inputs": {}}}


def _hist(store: Store, name: str, outcome: str) -> tuple[int, float, dict[float, int]]:
    found = [h for h in store.figures().histograms if h.name == name and h.labels == {"outcome": outcome}]
    assert len(found) == 1, store.figures().histograms
    return found[0].count, found[0].sum, dict(found[0].buckets)


def _counters(store: Store) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(c.name, tuple(sorted(c.labels.items()))): c.value for c in store.figures().counters}


def _claimed(store: Store) -> str:
    store.create_job(FLOW)
    job = store.claim(W)
    assert job is not None
    return job.id


def test_an_ended_job_adds_to_its_outcomes_histograms(db_path: str) -> None:
    now = [1000.0]
    store = Store(db_path, clock=lambda: now[0])
    store.create_job(FLOW)
    now[0] = 1003.0  # waited 3 s
    job = store.claim(W)
    assert job is not None
    now[0] = 1010.0  # ended 10 s after its submission
    store.complete(job.id, W, {"images": []}, comfyui_s=0.7)
    count, total, buckets = _hist(store, "comfyui_worker_job_comfyui_seconds", "completed")
    assert (count, total) == (1, 0.7)
    assert buckets[0.5] == 0 and buckets[1.0] == 1 and buckets[math.inf] == 1
    assert _hist(store, "comfyui_worker_job_queue_wait_seconds", "completed")[:2] == (1, 3.0)
    count, total, buckets = _hist(store, "comfyui_worker_job_duration_seconds", "completed")
    assert (count, total) == (1, 10.0) and buckets[5.0] == 0 and buckets[10.0] == 1
    store.close()


def test_each_outcome_is_its_own_series_and_a_job_that_never_ran_has_no_queue_wait(store: Store) -> None:
    store.fail(_claimed(store), W, {"type": "execution", "message": "x"}, comfyui_s=0.2)
    store.finish_cancelled(_claimed(store), W)  # no time in ComfyUI given
    pending = store.create_job(FLOW)
    store.cancel(pending.id)  # cancelled while pending: it never waited its turn out
    assert _hist(store, "comfyui_worker_job_comfyui_seconds", "failed")[0] == 1
    assert _hist(store, "comfyui_worker_job_duration_seconds", "cancelled")[0] == 2
    assert _hist(store, "comfyui_worker_job_queue_wait_seconds", "cancelled")[0] == 1
    assert not [h for h in store.figures().histograms
                if h.name == "comfyui_worker_job_comfyui_seconds" and h.labels == {"outcome": "cancelled"}]


def test_retried_released_and_recovered_jobs_are_counted(store: Store) -> None:
    store.requeue(_claimed(store), W, {"type": "internal", "message": "x"})  # retried
    job = store.claim(W)
    assert job is not None
    store.release(job.id, W)  # shutdown: no attempt spent
    job = store.claim(W)
    assert job is not None
    assert [r.status for r in store.recover_worker(W)] == ["pending"]  # the supervisor: W died
    counters = _counters(store)
    assert counters[("comfyui_worker_jobs_retried_total", ())] == 2  # the requeue and the recovery
    assert counters[("comfyui_worker_jobs_released_total", ())] == 1
    assert counters[("comfyui_worker_jobs_recovered_total", (("to", "pending"),))] == 1


def test_the_figures_do_not_grow_with_the_number_of_jobs(store: Store) -> None:
    def rows() -> int:
        return sum(store.conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]  # type: ignore[index]
                   for t in ("metric_counters", "metric_buckets", "metric_histograms"))

    store.complete(_claimed(store), W, {"images": []}, comfyui_s=0.1)
    after_one = rows()
    for _ in range(50):
        store.complete(_claimed(store), W, {"images": []}, comfyui_s=0.1)
    assert rows() == after_one
    assert _hist(store, "comfyui_worker_job_comfyui_seconds", "completed")[0] == 51


def test_any_process_may_add_its_own_counters_and_histograms(store: Store) -> None:
    store.count("comfyui_worker_webhook_deliveries_total", {"outcome": "ok"})
    store.count("comfyui_worker_webhook_deliveries_total", {"outcome": "ok"}, by=2)
    assert _counters(store)[("comfyui_worker_webhook_deliveries_total", (("outcome", "ok"),))] == 3
    store.conn.execute("INSERT INTO metric_bounds (name, le) VALUES ('x_seconds', 1), ('x_seconds', 9e999)")
    store.observe("x_seconds", 0.5, {"kind": "a"})
    store.observe("x_seconds", 2.0, {"kind": "a"})
    [hist] = [h for h in store.figures().histograms if h.name == "x_seconds"]
    assert hist.labels == {"kind": "a"} and hist.count == 2 and hist.sum == 2.5
    assert hist.buckets == [(1.0, 1), (math.inf, 2)]


def test_the_oldest_pending_job_is_found_by_its_age(db_path: str) -> None:
    now = [500.0]
    store = Store(db_path, clock=lambda: now[0])
    assert store.oldest_pending_at() is None
    for t in (500.0, 400.0, 600.0):
        now[0] = t
        store.create_job(FLOW, priority=int(t))  # the oldest is not the first to be claimed
    assert store.oldest_pending_at() == 400.0
    store.close()
