"""Waiters share one watcher: one read of the store per change, never the request column (the workflow)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import JobNotFound, JobStatus, Progress, Store
from tests.http.conftest import WORKER, WORKFLOW, complete, submit
from transports.service import JobService

BIG_WORKFLOW = {str(i): {"class_type": "CLIPTextEncode", "inputs": {"text": "x" * 1000}} for i in range(200)}


class SqlLog:
    """Every statement run on a connection (apsw's exec trace), to see what a request reads."""

    def __init__(self, store: Store) -> None:
        self.statements: list[str] = []
        store.conn.exec_trace = self._trace

    def _trace(self, _cursor: Any, sql: str, _bindings: Any) -> bool:
        code = " ".join(line.split("--")[0] for line in sql.splitlines())
        self.statements.append(" ".join(code.split()))
        return True

    def job_reads(self) -> list[str]:
        return [s for s in self.statements if re.search(r"\bFROM jobs\b", s, re.IGNORECASE)]

    def reading_requests(self) -> list[str]:
        """Reads that select the request column (or every column); writing it (a submit) is fine."""
        reads = [s for s in self.statements if s.upper().startswith(("SELECT", "WITH"))]
        return [s for s in reads if re.search(r"\brequest\b|SELECT \*", s, re.IGNORECASE)]


@pytest.fixture
def other(db_path: str) -> Iterator[Store]:
    """Another connection: the executor's side."""
    s = Store(db_path)
    yield s
    s.close()


async def _until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_one_read_of_the_store_wakes_every_waiter_of_a_change(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=0.01)
    jobs = [other.create_job(BIG_WORKFLOW, max_attempts=1).id for _ in range(40)]
    for _ in jobs:
        other.claim(WORKER)
    waiters = [asyncio.create_task(service.wait(job_id, 10)) for job_id in jobs for _ in range(3)]
    await _until(lambda: service.watcher.waiting == len(waiters))
    log = SqlLog(store)
    other.recover_worker(WORKER)  # one commit ends all 40 jobs (no attempts left: failed)
    async with asyncio.timeout(5):
        ended = await asyncio.gather(*waiters)
    assert {info.status for info in ended} == {JobStatus.FAILED}
    assert sorted({info.id for info in ended}) == sorted(jobs)
    assert len(log.job_reads()) == 2, log.job_reads()  # the states, then the ended: not one per waiter or job
    assert log.reading_requests() == []
    await service.close()


async def test_a_change_that_ends_no_waited_job_reads_only_their_states(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=0.01)
    jobs = [other.create_job(BIG_WORKFLOW, max_attempts=1).id for _ in range(10)]
    for _ in jobs:
        other.claim(WORKER)
    waiters = [asyncio.create_task(service.wait(job_id, 10)) for job_id in jobs]
    await _until(lambda: service.watcher.waiting == len(waiters))
    log = SqlLog(store)
    reads = service.watcher.reads
    other.record_progress(jobs[0], WORKER, Progress(value=1, max=10))  # a commit, no job ended
    await _until(lambda: service.watcher.reads > reads)
    await asyncio.sleep(0.05)
    assert [s.split(" FROM")[0] for s in log.job_reads()] == ["SELECT id, status"]
    assert service.watcher.waiting == len(waiters)
    for task in waiters:
        task.cancel()
    await service.close()


async def test_an_idle_watcher_reads_no_job_and_stops_when_nobody_waits(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=0.01)
    job_id = other.create_job(WORKFLOW).id
    log = SqlLog(store)
    waiter = asyncio.create_task(service.wait(job_id, 0.3))
    await asyncio.sleep(0.2)
    assert len(log.job_reads()) == 1  # the waiter's own first read; polls only look at data_version
    info = await waiter
    assert info.status is JobStatus.PENDING and service.watcher.waiting == 0
    await asyncio.sleep(0.05)
    assert service.watcher._task is None or service.watcher._task.done()
    await service.close()


async def test_a_waited_job_deleted_meanwhile_is_not_found(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=0.01)
    job = other.create_job(WORKFLOW)
    other.claim(WORKER)
    waiter = asyncio.create_task(service.wait(job.id, 5))
    await _until(lambda: service.watcher.waiting == 1)
    other.fail(job.id, WORKER, {"type": "execution", "message": "x"})
    assert (await asyncio.wait_for(waiter, 5)).status is JobStatus.FAILED
    second = other.create_job(WORKFLOW)
    waiter = asyncio.create_task(service.wait(second.id, 5))
    await _until(lambda: service.watcher.waiting == 1)
    other.conn.execute("DELETE FROM jobs WHERE id = ?", (second.id,))
    with pytest.raises(JobNotFound):
        await asyncio.wait_for(waiter, 5)
    await service.close()


async def test_a_cancel_through_the_service_wakes_its_waiters_at_once(store: Store) -> None:
    service = JobService(store, poll_interval_s=60)  # only notify() can wake them in time
    job_id = store.create_job(WORKFLOW).id
    waiter = asyncio.create_task(service.wait(job_id, 30))
    await _until(lambda: service.watcher.waiting == 1)
    service.cancel(job_id)
    assert (await asyncio.wait_for(waiter, 5)).status is JobStatus.CANCELLED
    await service.close()


async def test_a_commit_by_another_connection_wakes_its_waiters_without_polling(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=60)  # only the store's wake-up can wake them in time
    job_id = other.create_job(WORKFLOW).id
    other.claim(WORKER)
    waiter = asyncio.create_task(service.wait(job_id, 30))
    await _until(lambda: service.watcher.waiting == 1)
    other.fail(job_id, WORKER, {"type": "execution", "message": "x"})
    assert (await asyncio.wait_for(waiter, 5)).status is JobStatus.FAILED
    await service.close()


async def test_without_the_wakeup_polling_still_ends_the_wait(store: Store, other: Store) -> None:
    service = JobService(store, poll_interval_s=0.05, store_wakeup=False)
    job_id = other.create_job(WORKFLOW).id
    other.claim(WORKER)
    waiter = asyncio.create_task(service.wait(job_id, 30))
    await _until(lambda: service.watcher.waiting == 1)
    assert service.watcher.wakeup is None
    other.fail(job_id, WORKER, {"type": "execution", "message": "x"})
    assert (await asyncio.wait_for(waiter, 5)).status is JobStatus.FAILED
    await service.close()


def test_long_poll_and_runsync_never_read_the_workflow(client: TestClient[Litestar], store: Store) -> None:
    job_id = submit(client, workflow=BIG_WORKFLOW)
    log = SqlLog(client.app.state.service.store)
    assert client.get(f"/status/{job_id}", params={"wait": 0.2}).json()["status"] == "pending"
    complete(store, job_id)
    assert client.get(f"/status/{job_id}", params={"wait": 5}).json()["status"] == "completed"
    assert client.post("/runsync", params={"wait": 0.2}, json={"workflow": BIG_WORKFLOW}).status_code == 200
    assert log.job_reads() and log.reading_requests() == []


def test_job_list_and_recent_stats_never_read_the_workflow(client: TestClient[Litestar]) -> None:
    ids = {submit(client, workflow=BIG_WORKFLOW) for _ in range(3)}
    log = SqlLog(client.app.state.service.store)
    assert {job["id"] for job in client.get("/jobs").json()["jobs"]} == ids
    assert len(client.get("/jobs", params={"status": "pending", "limit": 2}).json()["jobs"]) == 2
    recent = client.get("/stats", params={"include_recent": True}).json()["recent_jobs"]
    assert {job["id"] for job in recent} == ids
    assert len(log.job_reads()) == 4 and log.reading_requests() == []  # /stats: per status, and per client
