"""The job store: every operation is one transaction on an apsw connection owned by one thread."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from store.connection import Synchronous, connect, migrate, write_transaction
from store.errors import InvalidTransition, JobNotFound
from store.model import (
    Component,
    InfoPage,
    InputImage,
    Job,
    JobInfo,
    JobStatus,
    OutputFile,
    OutputRef,
    Page,
    Progress,
    Recovered,
)
from store.queries import queries

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_decode_progress = msgspec.json.Decoder(Progress).decode
_FAR_FUTURE = 1e18


def _json(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


def _job(row: tuple[Any, ...]) -> Job:
    (job_id, status, priority, request, result, error, created_at, started_at, completed_at, attempts,
     max_attempts, timeout_s, worker_id, heartbeat_at, progress, cancel_requested) = row
    return Job(
        id=job_id, status=JobStatus(status), priority=priority, request=_decode(request),
        result=_decode(result) if result else None, error=_decode(error) if error else None,
        created_at=created_at, started_at=started_at, completed_at=completed_at, attempts=attempts,
        max_attempts=max_attempts, timeout_s=timeout_s, worker_id=worker_id, heartbeat_at=heartbeat_at,
        progress=_decode_progress(progress) if progress else None, cancel_requested=bool(cancel_requested),
    )


def _info(row: tuple[Any, ...]) -> JobInfo:
    """A row of the ``*job_info*`` queries (every column but ``request``)."""
    (job_id, status, priority, result, error, created_at, started_at, completed_at, attempts,
     max_attempts, timeout_s, worker_id, heartbeat_at, progress, cancel_requested) = row
    return JobInfo(
        id=job_id, status=JobStatus(status), priority=priority,
        result=_decode(result) if result else None, error=_decode(error) if error else None,
        created_at=created_at, started_at=started_at, completed_at=completed_at, attempts=attempts,
        max_attempts=max_attempts, timeout_s=timeout_s, worker_id=worker_id, heartbeat_at=heartbeat_at,
        progress=_decode_progress(progress) if progress else None, cancel_requested=bool(cancel_requested),
    )


def encode_cursor(job: JobInfo) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at!r}|{job.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises ValueError for a cursor this store did not make."""
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return float(created), job_id
    except Exception as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


class Store:
    """Owns one connection; make one Store per thread or process."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 5000,
        clock: Callable[[], float] = time.time,
        migrate_schema: bool = True,
    ) -> None:
        self.path = path
        self.conn = connect(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        self.clock = clock
        self.q = queries()
        if migrate_schema:
            migrate(self.conn)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Store:
        return cls(settings.sqlite_db_path, synchronous=settings.sqlite_synchronous,
                   busy_timeout_ms=settings.sqlite_busy_timeout_ms, **kwargs)

    def close(self) -> None:
        self.conn.close()

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(self.q[name], params).fetchall()

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap way to wait for news."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])  # type: ignore[index]

    def _guard(self, job_id: str, wanted: str) -> None:
        """Raise for an operation that changed no row: the job is unknown or in the wrong state."""
        rows = self._rows("get_status", id=job_id)
        if not rows:
            raise JobNotFound(f"no job {job_id}")
        raise InvalidTransition(f"job {job_id} is {rows[0][0]}, expected {wanted}")

    # --- creating and reading ---------------------------------------------------------------------------------

    def create_job(
        self,
        workflow: dict[str, Any],
        *,
        images: Iterable[InputImage] = (),
        options: dict[str, Any] | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        timeout_s: float | None = None,
    ) -> Job:
        with write_transaction(self.conn):
            return self._insert_job(workflow, images=images, options=options, priority=priority,
                                    max_attempts=max_attempts, timeout_s=timeout_s)

    def get_job(self, job_id: str) -> Job:
        rows = self._rows("get_job", id=job_id)
        if not rows:
            raise JobNotFound(f"no job {job_id}")
        return _job(rows[0])

    def get_inputs(self, job_id: str) -> list[InputImage]:
        return [InputImage(name=name, data=data) for _, name, data in self._rows("get_inputs", job_id=job_id)]

    def get_output(self, job_id: str, index: int) -> OutputFile | None:
        rows = self._rows("get_output", job_id=job_id, idx=index)
        return OutputFile(*rows[0]) if rows else None

    def get_outputs(self, job_id: str) -> list[OutputFile]:
        return [OutputFile(*row) for row in self._rows("get_outputs", job_id=job_id)]

    def list_jobs(self, status: JobStatus | None = None, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first; pass the returned ``next_cursor`` to get the next page."""
        before_created, before_id = decode_cursor(cursor) if cursor else (_FAR_FUTURE, "")
        params = {"before_created": before_created, "before_id": before_id, "limit": limit + 1}
        if status is None:
            rows = self._rows("list_jobs", **params)
        else:
            rows = self._rows("list_jobs_by_status", status=str(status), **params)
        jobs = [_job(row) for row in rows[:limit]]
        return Page(jobs=jobs, next_cursor=encode_cursor(jobs[-1]) if len(rows) > limit else None)

    def get_job_info(self, job_id: str) -> JobInfo:
        """The job without its request: never reads or decodes the workflow."""
        rows = self._rows("get_job_info", id=job_id)
        if not rows:
            raise JobNotFound(f"no job {job_id}")
        return _info(rows[0])

    def job_infos(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """The jobs of these ids that exist (without requests), in one read."""
        return {row[0]: _info(row) for row in self._rows("job_infos", ids=_json(list(job_ids)))}

    def list_job_infos(self, status: JobStatus | None = None, limit: int = 50,
                       cursor: str | None = None) -> InfoPage:
        """``list_jobs`` without the requests (what a job list shows)."""
        before_created, before_id = decode_cursor(cursor) if cursor else (_FAR_FUTURE, "")
        params = {"before_created": before_created, "before_id": before_id, "limit": limit + 1}
        if status is None:
            rows = self._rows("list_job_infos", **params)
        else:
            rows = self._rows("list_job_infos_by_status", status=str(status), **params)
        jobs = [_info(row) for row in rows[:limit]]
        return InfoPage(jobs=jobs, next_cursor=encode_cursor(jobs[-1]) if len(rows) > limit else None)

    def output_refs(self, job_id: str) -> list[OutputRef]:
        """A job's stored outputs, their sizes and rows, without reading their bytes."""
        return [OutputRef(*row) for row in self._rows("output_refs", job_id=job_id)]

    def stats(self) -> dict[str, int]:
        """Jobs per status and ``total``; O(1) whatever the table size (kept by triggers)."""
        counts = {str(s): 0 for s in JobStatus}
        counts.update({status: n for status, n in self._rows("counts")})
        counts["total"] = sum(counts.values())
        return counts

    # --- the executor's side ----------------------------------------------------------------------------------

    def claim(self, worker_id: str) -> Job | None:
        """pending -> running: the next job by priority then age, atomically across processes.

        One UPDATE ... RETURNING statement is its own transaction and takes the write lock before it reads."""
        rows = self._rows("claim", worker_id=worker_id, now=self.clock())
        return _job(rows[0]) if rows else None

    def heartbeat(self, worker_id: str, job_ids: Iterable[str] | None = None) -> dict[str, bool]:
        """Renew the lease of the running jobs of a worker (only ``job_ids`` when given, so a job the worker no
        longer runs goes stale and is recovered); returns job id -> cancel requested."""
        ids = None if job_ids is None else _json(list(job_ids))
        return {job_id: bool(cancel) for job_id, cancel in
                self._rows("heartbeat", worker_id=worker_id, ids=ids, now=self.clock())}

    def record_progress(self, job_id: str, worker_id: str, progress: Progress) -> None:
        self.conn.execute(self.q["record_progress"],
                          {"id": job_id, "worker_id": worker_id, "progress": _json(progress), "now": self.clock()})
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}")

    def _finish(self, query: str, job_id: str, worker_id: str, outputs: Iterable[OutputFile],
                **params: Any) -> None:
        with write_transaction(self.conn):
            self.conn.execute(self.q[query], {"id": job_id, "worker_id": worker_id, "now": self.clock(), **params})
            if not self.conn.changes():
                self._guard(job_id, f"running under {worker_id}")
            for out in outputs:
                self.conn.execute(self.q["insert_output"], {
                    "job_id": job_id, "idx": out.index, "filename": out.filename,
                    "content_type": out.content_type, "data": out.data,
                })

    def complete(self, job_id: str, worker_id: str, result: dict[str, Any],
                 outputs: Iterable[OutputFile] = ()) -> None:
        """running -> completed, with the result and the output files' bytes."""
        self._finish("complete", job_id, worker_id, outputs, result=_json(result))

    def fail(self, job_id: str, worker_id: str, error: dict[str, Any], result: dict[str, Any] | None = None,
             outputs: Iterable[OutputFile] = ()) -> None:
        """running -> failed, with a structured error (and the outputs made before the failure)."""
        self._finish("fail", job_id, worker_id, outputs, error=_json(error), result=_json(result))

    def finish_cancelled(self, job_id: str, worker_id: str, result: dict[str, Any] | None = None,
                         outputs: Iterable[OutputFile] = ()) -> None:
        """running -> cancelled, once the executor has stopped it in ComfyUI."""
        error = {"type": "cancelled", "message": "cancelled while running"}
        self._finish("finish_cancelled", job_id, worker_id, outputs, error=_json(error), result=_json(result))

    def requeue(self, job_id: str, worker_id: str, error: dict[str, Any]) -> JobStatus:
        """running -> pending while attempts remain, else failed with `error` (cancelled if asked for)."""
        with write_transaction(self.conn):
            rows = self._rows("requeue", id=job_id, worker_id=worker_id, error=_json(error), now=self.clock())
            if not rows:
                self._guard(job_id, f"running under {worker_id}")
        return JobStatus(rows[0][1])

    def release(self, job_id: str, worker_id: str) -> JobStatus:
        """running -> pending without spending an attempt (the executor is shutting down)."""
        with write_transaction(self.conn):
            rows = self._rows("release", id=job_id, worker_id=worker_id, now=self.clock())
            if not rows:
                self._guard(job_id, f"running under {worker_id}")
        return JobStatus(rows[0][1])

    # --- cancelling -------------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobStatus:
        """pending -> cancelled at once; running -> cancel requested (the executor interrupts it).

        Returns the job's status afterwards; raises InvalidTransition for a terminal job."""
        with write_transaction(self.conn):
            self.conn.execute(self.q["cancel_pending"], {"id": job_id, "now": self.clock()})
            if self.conn.changes():
                return JobStatus.CANCELLED
            self.conn.execute(self.q["request_cancel"], {"id": job_id})
            if self.conn.changes():
                return JobStatus.RUNNING
            self._guard(job_id, "pending or running")
        raise AssertionError("unreachable")

    # --- recovery and maintenance -----------------------------------------------------------------------------

    def _recover(self, reason: str, worker_id: str | None = None, stale_before: float | None = None,
                 started_before: float | None = None) -> list[Recovered]:
        error = {"type": "comfyui_unavailable", "message": f"attempts used up ({reason})"}
        with write_transaction(self.conn):
            rows = self._rows("recover", worker_id=worker_id, stale_before=stale_before,
                              started_before=started_before, error=_json(error), now=self.clock())
        return [Recovered(id=job_id, status=JobStatus(status)) for job_id, status in rows]

    def recover_worker(self, worker_id: str) -> list[Recovered]:
        """Every running job of a worker that died: requeued, or failed when its attempts are used up."""
        return self._recover(f"worker {worker_id} died", worker_id=worker_id)

    def recover_stale(self, older_than_s: float) -> list[Recovered]:
        """Running jobs whose heartbeat is older than this: requeued or failed."""
        return self._recover("heartbeat lost", stale_before=self.clock() - older_than_s)

    def reset_stuck(self, max_running_hours: float) -> list[Recovered]:
        """Running jobs started longer ago than this (the seed's /admin/reset-stuck): requeued or failed."""
        return self._recover("stuck", started_before=self.clock() - max_running_hours * 3600)

    def cleanup(self, max_age_hours: float, *, batch: int = 200, pause_s: float = 0.002) -> int:
        """Delete completed/failed/cancelled jobs older than this, a short transaction per batch."""
        cutoff, deleted = self.clock() - max_age_hours * 3600, 0
        while True:
            with write_transaction(self.conn):
                self.conn.execute(self.q["cleanup_batch"], {"cutoff": cutoff, "batch": batch})
                n = self.conn.changes()
            deleted += n
            # the pages this batch wrote are checkpointed here, so a latency-sensitive writer (a POST /run) is
            # not the one whose commit trips the automatic checkpoint
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if n < batch:
                return deleted
            time.sleep(pause_s)  # let waiting writers in between batches

    def delete_job(self, job_id: str) -> None:
        """Delete one terminal job; raises JobNotFound or InvalidTransition (pending or running)."""
        with write_transaction(self.conn):
            self.conn.execute(self.q["delete_terminal"], {"id": job_id})
            if not self.conn.changes():
                self._guard(job_id, "completed, failed or cancelled")

    # --- components -------------------------------------------------------------------------------------------

    def set_component(self, name: str, state: str, *, pid: int | None = None, restarts: int = 0,
                      detail: str | None = None) -> None:
        self.conn.execute(self.q["upsert_component"], {
            "name": name, "pid": pid, "state": state, "restarts": restarts, "detail": detail, "now": self.clock(),
        })

    def components(self) -> list[Component]:
        return [Component(*row) for row in self._rows("list_components")]

    def clear_components(self) -> None:
        self.conn.execute(self.q["delete_components"])

    def pending_position(self, job_id: str) -> int | None:
        """1 for the job claimed next, None when not pending; counts the jobs ahead (jobs_pending index)."""
        rows = self._rows("pending_position", id=job_id)
        return int(rows[0][0]) if rows else None

    def create_jobs(self, specs: Iterable[dict[str, Any]]) -> list[Job]:
        """``create_job`` for each spec (its keyword arguments, ``workflow`` included) in one transaction:
        a burst of submissions pays for one commit, and either all of them are stored or none."""
        with write_transaction(self.conn):
            return [self._insert_job(**spec) for spec in specs]

    def _insert_job(self, workflow: dict[str, Any], *, images: Iterable[InputImage] = (),
                    options: dict[str, Any] | None = None, priority: int = 0, max_attempts: int = 3,
                    timeout_s: float | None = None) -> Job:
        job_id, now = str(uuid.uuid4()), self.clock()
        request = {"workflow": workflow, "options": options or {}}
        self.conn.execute(self.q["insert_job"], {
            "id": job_id, "priority": priority, "request": _json(request), "created_at": now,
            "max_attempts": max_attempts, "timeout_s": timeout_s,
        })
        for idx, image in enumerate(images):
            self.conn.execute(self.q["insert_input"],
                              {"job_id": job_id, "idx": idx, "name": image.name, "data": image.data})
        return Job(id=job_id, status=JobStatus.PENDING, priority=priority, request=request, result=None,
                   error=None, created_at=now, started_at=None, completed_at=None, attempts=0,
                   max_attempts=max_attempts, timeout_s=timeout_s, worker_id=None, heartbeat_at=None,
                   progress=None, cancel_requested=False)


__all__ = ["Store", "decode_cursor", "encode_cursor"]
