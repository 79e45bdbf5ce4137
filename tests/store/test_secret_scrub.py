"""A per-request Comfy.org key is kept only while its job can still run: every way to end a job removes it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from store import JobStatus, Store
from store.backup import backup
from store.queries import queries
from tests.store.test_jobs import WORKFLOW, Clock

KEY = "comfyui-org-secret-0123456789"
ERROR = {"type": "comfyui_unavailable", "message": "refused"}


@pytest.fixture
def cstore(db_path: str) -> Store:
    return Store(db_path, clock=Clock())


def raw_request(db_path: str, job_id: str) -> str:
    """The request column as stored, read past the store's own decoding."""
    conn = apsw.Connection(db_path)
    try:
        row = conn.execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()
        assert row is not None
        return str(row[0])
    finally:
        conn.close()


def new_job(s: Store, max_attempts: int = 3) -> str:
    job = s.create_job(WORKFLOW, options={"comfy_org_api_key": KEY, "include_temp": True},
                       max_attempts=max_attempts)
    return job.id


def claimed(s: Store, max_attempts: int = 3) -> str:
    job_id = new_job(s, max_attempts)
    got = s.claim("w")
    assert got is not None and got.options["comfy_org_api_key"] == KEY, "a running job still has its key"
    return job_id


def cancelled_while_running(s: Store) -> str:
    job_id = claimed(s)
    s.cancel(job_id)
    return job_id


def _complete(s: Store) -> str:
    job_id = claimed(s)
    s.complete(job_id, "w", {"images": []})
    return job_id


def _fail(s: Store) -> str:
    job_id = claimed(s)
    s.fail(job_id, "w", ERROR)
    return job_id


def _finish_cancelled(s: Store) -> str:
    job_id = cancelled_while_running(s)
    s.finish_cancelled(job_id, "w")
    return job_id


def _cancel_pending(s: Store) -> str:
    job_id = new_job(s)
    assert s.cancel(job_id) is JobStatus.CANCELLED
    return job_id


def _requeue_failed(s: Store) -> str:
    job_id = claimed(s, max_attempts=1)
    assert s.requeue(job_id, "w", ERROR) is JobStatus.FAILED
    return job_id


def _requeue_cancelled(s: Store) -> str:
    job_id = cancelled_while_running(s)
    assert s.requeue(job_id, "w", ERROR) is JobStatus.CANCELLED
    return job_id


def _release_cancelled(s: Store) -> str:
    job_id = cancelled_while_running(s)
    assert s.release(job_id, "w") is JobStatus.CANCELLED
    return job_id


def _recover_worker_failed(s: Store) -> str:
    job_id = claimed(s, max_attempts=1)
    assert [r.status for r in s.recover_worker("w")] == [JobStatus.FAILED]
    return job_id


def _recover_worker_cancelled(s: Store) -> str:
    job_id = cancelled_while_running(s)
    assert [r.status for r in s.recover_worker("w")] == [JobStatus.CANCELLED]
    return job_id


def _recover_stale_failed(s: Store) -> str:
    job_id = claimed(s, max_attempts=1)
    assert [r.status for r in s.recover_stale(-1)] == [JobStatus.FAILED]
    return job_id


def _reset_stuck_failed(s: Store) -> str:
    job_id = claimed(s, max_attempts=1)
    assert [r.status for r in s.reset_stuck(-1, stale_after_s=-1).recovered] == [JobStatus.FAILED]
    return job_id


TERMINAL = [_complete, _fail, _finish_cancelled, _cancel_pending, _requeue_failed, _requeue_cancelled,
            _release_cancelled, _recover_worker_failed, _recover_worker_cancelled, _recover_stale_failed,
            _reset_stuck_failed]


@pytest.mark.parametrize("end", TERMINAL, ids=lambda f: f.__name__.strip("_"))
def test_every_way_to_end_a_job_removes_its_comfy_org_key(cstore: Store, db_path: str,
                                                          end: Callable[[Store], str]) -> None:
    job_id = end(cstore)
    job = cstore.get_job(job_id)
    assert job.status.terminal
    assert KEY not in raw_request(db_path, job_id)
    assert job.options == {"include_temp": True}, "the other options stay"
    assert job.workflow == WORKFLOW


def test_a_job_that_can_run_again_keeps_its_key(cstore: Store, db_path: str) -> None:
    """Requeue, release and recovery back to pending keep it: the next attempt needs it."""
    job_id = claimed(cstore)
    assert cstore.requeue(job_id, "w", ERROR) is JobStatus.PENDING
    assert cstore.claim("w") is not None
    assert cstore.release(job_id, "w") is JobStatus.PENDING
    assert cstore.claim("w") is not None
    assert [r.status for r in cstore.recover_worker("w")] == [JobStatus.PENDING]
    assert KEY in raw_request(db_path, job_id)
    again = cstore.claim("w")
    assert again is not None and again.options["comfy_org_api_key"] == KEY


def test_jobs_without_a_key_keep_their_request_unchanged(cstore: Store, db_path: str) -> None:
    job = cstore.create_job(WORKFLOW, options={"include_temp": True})
    before = raw_request(db_path, job.id)
    cstore.claim("w")
    cstore.complete(job.id, "w", {"images": []})
    assert raw_request(db_path, job.id) == before


@pytest.mark.parametrize("nodes", [1, 2_000], ids=["small_workflow", "workflow_over_a_page"])
def test_a_backup_taken_after_the_job_ended_holds_no_copy_of_the_key(cstore: Store, db_path: str,
                                                                      tmp_path: Path, nodes: int) -> None:
    """Removed from the row is not enough: the old row's bytes must not linger in the file a backup copies."""
    flow = {str(i): {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}} for i in range(nodes)}
    ids = [cstore.create_job(flow, options={"comfy_org_api_key": KEY}).id for _ in range(3)]
    for job_id in ids:
        cstore.claim("w")
        cstore.complete(job_id, "w", {"images": []})
    copy = backup(db_path, str(tmp_path / "backup.db"))
    assert KEY.encode() not in Path(copy.path).read_bytes()
    cstore.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert KEY.encode() not in Path(db_path).read_bytes()


def test_every_named_query_that_can_end_a_job_removes_the_key() -> None:
    """A statement added later that makes a job terminal cannot forget the key (checked on queries.sql)."""
    code = {name: "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
            for name, sql in queries().items()}
    ending = {name: sql for name, sql in code.items() if sql.startswith("UPDATE jobs")
              and re.search(r"'(completed|failed|cancelled)'", sql.split("WHERE")[0])}
    assert {"complete", "fail", "finish_cancelled", "cancel_pending", "requeue", "release", "recover"} <= set(ending)
    missing = [name for name, sql in ending.items()
               if "json_remove(request, '$.options.comfy_org_api_key')" not in sql]
    assert missing == []
