"""The store operations the HTTP transport added: Store.pending_position and Store.create_jobs."""

from __future__ import annotations

import apsw
import pytest

from store import Store
from tests.http.conftest import WORKER, WORKFLOW


def test_pending_position_follows_the_claim_order(store: Store) -> None:
    low = [store.create_job(WORKFLOW).id for _ in range(3)]
    high = store.create_job(WORKFLOW, priority=5).id
    order = [high, *low]
    assert [store.pending_position(i) for i in order] == [1, 2, 3, 4]
    store.claim(WORKER)
    assert store.pending_position(high) is None and store.pending_position(low[0]) == 1
    assert store.pending_position("unknown") is None


def test_pending_position_breaks_equal_timestamps_by_insertion(db_path: str) -> None:
    store = Store(db_path, clock=lambda: 1000.0)
    ids = [store.create_job(WORKFLOW).id for _ in range(3)]
    assert [store.pending_position(i) for i in ids] == [1, 2, 3]
    store.close()


def test_create_jobs_stores_every_job_in_one_transaction(store: Store) -> None:
    specs = [{"workflow": WORKFLOW}, {"workflow": WORKFLOW, "priority": 3, "timeout_s": 9.0}]
    jobs = store.create_jobs(specs)
    assert [store.get_job(j.id) for j in jobs] == jobs
    assert (jobs[1].priority, jobs[1].timeout_s) == (3, 9.0)


def test_create_jobs_stores_none_when_one_fails(store: Store) -> None:
    with pytest.raises(apsw.ConstraintError):
        store.create_jobs([{"workflow": WORKFLOW}, {"workflow": WORKFLOW, "max_attempts": 0}])
    assert store.stats()["total"] == 0
