"""POST /admin/cleanup runs on a worker thread with a Store of its own: the API answers meanwhile."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from store import JobStatus, Store
from store.testing import fill_jobs
from tests.http.server import running_server

DAY = 86400.0


def test_health_and_reads_answer_while_a_cleanup_waits_for_the_write_lock(db_path: str) -> None:
    store = Store(db_path)
    fill_jobs(store, 3000, JobStatus.COMPLETED, at=time.time() - 2 * DAY)
    with running_server(db_path, SQLITE_BUSY_TIMEOUT_MS="30000") as server:
        answers: dict[str, Any] = {}

        def cleanup() -> None:
            answers["cleanup"] = httpx.post(f"{server.url}/admin/cleanup", params={"max_age_hours": 24},
                                            timeout=60)

        store.conn.execute("BEGIN IMMEDIATE")  # another writer holds the lock: the cleanup has to wait
        try:
            worker = threading.Thread(target=cleanup)
            worker.start()
            time.sleep(0.3)
            for _ in range(10):  # a cleanup on the event loop would hold every one of these until the lock frees
                assert httpx.get(f"{server.url}/health", timeout=3).status_code == 200
                assert httpx.get(f"{server.url}/jobs", params={"limit": 1}, timeout=3).status_code == 200
                time.sleep(0.05)
            assert worker.is_alive() and "cleanup" not in answers
        finally:
            store.conn.execute("ROLLBACK")
        worker.join(60)
        assert answers["cleanup"].json()["deleted_jobs"] == 3000
        assert httpx.get(f"{server.url}/health", timeout=3).json()["job_stats"]["total"] == 0
    store.close()
