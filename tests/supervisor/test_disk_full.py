"""A full store is an error, not an outage: ``comfyui-worker run`` for real, its store made full with SQLite's
page limit (``PRAGMA max_page_count`` in every process, through the test-only variable), then given room again."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import Store
from store.connection import TEST_MAX_PAGE_COUNT_ENV
from store.testing import fill_outputs
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

LIMIT_PAGES = 4000  # 16 MB of 4 KB pages
DAY = 86400.0


def big_workflow(color: int) -> dict[str, Any]:
    """SaveImage writes the prompt into the PNG: a 40 KB title makes each output span several pages."""
    flow = workflow(color)
    flow["2"]["_meta"] = {"title": "x" * 40_000}
    return flow


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, **{TEST_MAX_PAGE_COUNT_ENV: str(LIMIT_PAGES)}, MIN_FREE_DISK_MB="1",
                      STORE_MAX_MB="0", STORE_RESERVE_MB="1", FAKE_COMFYUI_DELAY_MS="1500")
    yield d.start()
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


def fill(db_path: str) -> None:
    """Grow the store past the daemon's page limit from outside (this connection has no limit), with finished
    jobs two days old: every write of the daemon that needs a new page now fails with SQLITE_FULL."""
    store = Store(db_path, clock=lambda: time.time() - 2 * DAY)
    try:
        while pragma(store, "page_count") <= LIMIT_PAGES + 50 or pragma(store, "freelist_count"):
            fill_outputs(store, 20, 64 * 1024, time.time() - 2 * DAY)
    finally:
        store.close()


def pragma(store: Store, name: str) -> int:
    return int(store.conn.execute(f"PRAGMA {name}").fetchone()[0])


def used_bytes(db_path: str) -> int:
    store = Store(db_path)
    try:
        return (pragma(store, "page_count") - pragma(store, "freelist_count")) * pragma(store, "page_size")
    finally:
        store.close()


def health_status(d: RunningDaemon) -> int | None:
    try:
        return d.client.get(f"{d.url}/health", timeout=2).status_code
    except httpx.HTTPError:
        return None


def integrity(db_path: str) -> list[Any]:
    store = Store(db_path)
    try:
        return store.conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        store.close()


def test_a_full_store_refuses_jobs_with_507_and_recovers_after_cleanup_with_nothing_lost(daemon) -> None:
    d = daemon
    d.wait_ready()
    reserve = Path(d.db_path + "-reserve")
    d.wait_for(reserve.exists, 10, "the disk reserve next to the store")
    ids = [d.submit(0, flow=big_workflow(c)) for c in range(4)]
    d.wait_running_job()
    executor_pid = d.components()["executor-0"]["pid"]

    fill(d.db_path)

    refused = d.client.post(f"{d.url}/run", json={"workflow": workflow(99)})
    assert refused.status_code == 507, refused.text
    detail = refused.json()["detail"]
    assert "MB free on the disk of" in detail and "/admin/cleanup" in detail, detail
    synced = d.client.post(f"{d.url}/runsync", json={"workflow": workflow(98)})
    assert synced.status_code == 507, synced.text
    health = d.client.get(f"{d.url}/health")
    assert health.status_code == 503 and "disk full" in health.json()["detail"], health.text
    assert health.json()["disk"]["state"] == "full"

    # the executor holds the finished job's outputs and retries its write; it claims nothing meanwhile
    d.wait_for(lambda: d.events("job_write_deferred"), 20, "a deferred job write")
    d.wait_for(lambda: d.events("claims_paused"), 10, "claims paused")
    jobs = d.jobs()
    assert all(str(jobs[i].status) in {"running", "pending", "completed"} for i in ids), jobs
    assert d.components()["executor-0"]["pid"] == executor_pid, "the executor did not die"
    assert d.proc is not None and d.proc.poll() is None, "the supervisor did not die"

    cleaned = d.client.post(f"{d.url}/admin/cleanup")  # on the full store: deletes the two-day-old jobs
    assert cleaned.status_code == 200, cleaned.text
    assert cleaned.json()["deleted_jobs"] > 0
    assert d.events("disk_reserve_released")

    d.wait_jobs(ids, {"completed"}, 60)
    d.wait_for(lambda: d.client.get(f"{d.url}/health").status_code == 200, 10, "healthy again")
    after = d.submit(7)
    d.wait_jobs([after], {"completed"}, 20)
    d.wait_for(reserve.exists, 10, "the disk reserve made again")
    assert d.events("store_recovered") and d.events("claims_resumed")
    components = d.components()
    assert components["executor-0"]["pid"] == executor_pid and components["executor-0"]["restarts"] == 0
    assert all(c["state"] != "fatal" for c in components.values())
    assert integrity(d.db_path) == [("ok",)]
    statuses = {str(d.jobs()[i].status) for i in ids}
    assert statuses == {"completed"}
    assert os.path.getsize(reserve) == 1024 * 1024


def test_past_store_max_mb_the_daemon_removes_the_oldest_outputs_and_status_says_so(tmp_path: Path) -> None:
    d = RunningDaemon(tmp_path, STORE_MAX_MB="2.5", STORE_RESERVE_MB="0")
    try:
        d.start().wait_ready()
        ids = [d.submit(0, flow=big_workflow(c)) for c in range(40)]  # 40 KB of request and of output each
        d.wait_jobs(ids, {"completed"}, 60)
        # the cap is checked every RECOVERY_INTERVAL_S (1 s here): the jobs done since the last round go next
        d.wait_for(lambda: used_bytes(d.db_path) <= 2.5 * 1024 * 1024 and d.events("outputs_evicted"), 10,
                   "the store under STORE_MAX_MB")  # 3.3 MB without the cap
        first = d.client.get(f"{d.url}/status/{ids[0]}").json()
        assert first["status"] == "completed"
        [removed] = first["result"]["images"]
        assert removed["type"] == "removed" and "STORE_MAX_MB" in removed["detail"]
        [kept] = d.client.get(f"{d.url}/status/{ids[-1]}").json()["result"]["images"]
        assert kept["type"] == "base64" and len(kept["data"]) > 40_000
    finally:
        d.close()
    assert d.not_json() == []


def test_a_daemon_stopped_and_restarted_while_the_store_is_full_loses_nothing(daemon) -> None:
    d = daemon
    d.wait_ready()
    ids = [d.submit(0, flow=big_workflow(c)) for c in range(3)]
    d.wait_running_job()
    fill(d.db_path)
    d.wait_for(lambda: d.events("job_write_deferred"), 20, "a deferred job write")
    # the finished job's write still fails, and so may its release: then it stays running without heartbeat
    # and the restarted daemon recovers it once there is room
    d.signal(signal.SIGTERM)
    assert d.wait_exit(40) == 0, d.tail()
    [executor_exit] = [r for r in d.events("child_exited") if r.get("child") == "executor-0"]
    assert executor_exit["last_exit"] == "exit 0", "the executor drained in time, no SIGKILL"
    assert {str(j.status) for i, j in d.jobs().items() if i in ids} <= {"pending", "running", "completed"}

    d.start()  # on the full store
    d.wait_for(lambda: health_status(d) == 503 and d.components().get("executor-0", {}).get("state") == "running",
               30, "the daemon up again, its /health saying the disk is full")
    assert d.client.post(f"{d.url}/admin/cleanup").status_code == 200
    d.wait_jobs(ids, {"completed"}, 60)
    assert integrity(d.db_path) == [("ok",)]
