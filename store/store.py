"""The job store: every operation is one transaction on an apsw connection owned by one thread."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from store.clients import DEFAULT_OWNER, Clients
from store.connection import Synchronous, connect, migrate, write_transaction
from store.disk import MB, FreeSpace, Reserve, disk_free
from store.errors import InvalidTransition, JobNotFound
from store.model import (
    InfoPage,
    InputImage,
    Job,
    JobInfo,
    JobStatus,
    Lease,
    OutputFile,
    OutputRef,
    Page,
    Progress,
)
from store.queries import queries
from store.queue import Queue
from store.recovery import Recovery
from store.registry import Registry
from store.room import Room, writes
from store.wakeup import EVERY, Poker, Wake

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_decode_progress = msgspec.json.Decoder(Progress).decode
_FAR_FUTURE = 1e18

def _json(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


def _job(row: tuple[Any, ...]) -> Job:
    (job_id, status, priority, request, result, error, created_at, started_at, completed_at, attempts,
     max_attempts, timeout_s, worker_id, heartbeat_at, progress, cancel_requested) = row[:16]
    # columns added by later migrations (stop_requested) are read where they are needed, not into Job
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


# whom each write may concern (store.wakeup); a write not named here wakes every waiter
WAKES: dict[str, frozenset[Wake]] = {
    "create_job": frozenset({Wake.JOBS}), "create_jobs": frozenset({Wake.JOBS}),
    "release": frozenset({Wake.JOBS}),
    "requeue": EVERY, "_recover": EVERY, "reset_stuck": EVERY,  # requeued, or failed with no attempt left
    "_finish": frozenset({Wake.ENDS}), "cancel": frozenset({Wake.ENDS}), "delete_job": frozenset({Wake.ENDS}),
    "_cleanup": frozenset({Wake.ENDS}), "purge_pending": frozenset({Wake.ENDS}), "_evict": frozenset(),
    "claim": frozenset(), "heartbeat": frozenset(), "record_progress": frozenset(),
    "set_component": frozenset(), "clear_components": frozenset(), "audit": frozenset(),
}


class Store(Clients, Recovery, Registry, Room, Queue):
    """Owns one connection; make one Store per thread or process."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 5000,
        clock: Callable[[], float] = time.time,
        migrate_schema: bool = True,
        min_free_bytes: int = 0,
        reserve_bytes: int = 0,
        free_space: FreeSpace = disk_free,
    ) -> None:
        self.path = path
        self.conn = connect(path, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        self.clock = clock
        self.q = queries()
        self.cq = queries("clients.sql")
        self.min_free_bytes = min_free_bytes
        self.free_space = free_space
        self.reserve = Reserve(path, reserve_bytes, free_space)
        self.full_since: float | None = None  # monotonic time a write of this connection last met a full disk
        self.evicted_before = 0.0  # every finished job completed before this has no stored files left
        self.poker = Poker(path)  # wakes the processes waiting for a commit (store.wakeup)
        if migrate_schema:
            migrate(self.conn)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Store:
        return cls(settings.sqlite_db_path, synchronous=settings.sqlite_synchronous,
                   busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                   min_free_bytes=int(settings.min_free_disk_mb * MB),
                   reserve_bytes=int(settings.store_reserve_mb * MB), **kwargs)

    def close(self) -> None:
        self.conn.close()

    def committed(self, write: str) -> None:
        self.poker.poke(WAKES.get(write, EVERY))

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

    @writes
    def create_job(
        self,
        workflow: dict[str, Any],
        *,
        images: Iterable[InputImage] = (),
        options: dict[str, Any] | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        timeout_s: float | None = None,
        owner: str = DEFAULT_OWNER,
    ) -> Job:
        with write_transaction(self.conn):
            return self._insert_job(workflow, images=images, options=options, priority=priority,
                                    max_attempts=max_attempts, timeout_s=timeout_s, owner=owner)

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

    def job_states(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """The status of each job of these ids that exists, in one read."""
        return {job_id: JobStatus(status) for job_id, status in self._rows("job_states", ids=_json(list(job_ids)))}

    def job_infos(self, job_ids: Iterable[str]) -> dict[str, JobInfo]:
        """The jobs of these ids that exist (without requests), in one read."""
        return {row[0]: _info(row) for row in self._rows("job_infos", ids=_json(list(job_ids)))}

    def list_job_infos(self, status: JobStatus | None = None, limit: int = 50,
                       cursor: str | None = None, owner: str | None = None) -> InfoPage:
        """``list_jobs`` without the requests (what a job list shows); only ``owner``'s jobs when given."""
        if owner is not None:
            return self.list_job_infos_of(owner, None if status is None else str(status), limit,
                                          decode_cursor(cursor) if cursor else None, _info, encode_cursor)
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

    @writes
    def claim(self, worker_id: str) -> Job | None:
        """pending -> running: the next job by priority then age, atomically across processes.

        One UPDATE ... RETURNING statement is its own transaction and takes the write lock before it reads."""
        rows = self._rows("claim", worker_id=worker_id, now=self.clock())
        return _job(rows[0]) if rows else None

    @writes
    def heartbeat(self, worker_id: str, job_ids: Iterable[str] | None = None) -> dict[str, Lease]:
        """Renew the lease of the running jobs of a worker (only ``job_ids`` when given, so a job the worker no
        longer runs goes stale and is recovered); returns job id -> whether a cancel or a stop was asked for."""
        ids = None if job_ids is None else _json(list(job_ids))
        return {job_id: Lease(cancel_requested=bool(cancel), stop_requested=bool(stop)) for job_id, cancel, stop in
                self._rows("heartbeat", worker_id=worker_id, ids=ids, now=self.clock())}

    @writes
    def record_progress(self, job_id: str, worker_id: str, progress: Progress) -> None:
        self.conn.execute(self.q["record_progress"],
                          {"id": job_id, "worker_id": worker_id, "progress": _json(progress), "now": self.clock()})
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}")

    @writes
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

    @writes
    def requeue(self, job_id: str, worker_id: str, error: dict[str, Any]) -> JobStatus:
        """running -> pending while attempts remain, else failed with `error` (cancelled if asked for)."""
        with write_transaction(self.conn):
            rows = self._rows("requeue", id=job_id, worker_id=worker_id, error=_json(error), now=self.clock())
            if not rows:
                self._guard(job_id, f"running under {worker_id}")
        return JobStatus(rows[0][1])

    @writes
    def release(self, job_id: str, worker_id: str) -> JobStatus:
        """running -> pending without spending an attempt (the executor is shutting down)."""
        with write_transaction(self.conn):
            rows = self._rows("release", id=job_id, worker_id=worker_id, now=self.clock())
            if not rows:
                self._guard(job_id, f"running under {worker_id}")
        return JobStatus(rows[0][1])

    # --- cancelling -------------------------------------------------------------------------------------------

    @writes
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

    # --- maintenance (recovery of running jobs: store/recovery.py) ------------------------------------------

    def cleanup(self, max_age_hours: float, *, batch: int = 200, pause_s: float = 0.002) -> int:
        """Delete completed/failed/cancelled jobs older than this, a short transaction per batch.

        Works on a full disk: the reserve file next to the store is released to make room for the deletions'
        WAL writes (at once when the store is full, or when a batch meets a full disk), and made again after
        when the disk has room for it above MIN_FREE_DISK_MB."""
        cutoff, deleted = self.clock() - max_age_hours * 3600, [0]
        self._using_reserve(lambda: self._cleanup(cutoff, batch, pause_s, deleted))
        return deleted[0]

    @writes
    def _cleanup(self, cutoff: float, batch: int, pause_s: float, deleted: list[int]) -> None:
        while True:
            with write_transaction(self.conn):
                self.conn.execute(self.q["cleanup_batch"], {"cutoff": cutoff, "batch": batch})
                n = self.conn.changes()
            deleted[0] += n
            # the pages this batch wrote are checkpointed here, so a latency-sensitive writer (a POST /run) is
            # not the one whose commit trips the automatic checkpoint
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if n < batch:
                with write_transaction(self.conn):  # the audit table is kept like finished jobs
                    self.conn.execute(self.cq["cleanup_audit"], {"cutoff": cutoff})
                return
            time.sleep(pause_s)  # let waiting writers in between batches

    @writes
    def delete_job(self, job_id: str) -> None:
        """Delete one terminal job; raises JobNotFound or InvalidTransition (pending or running)."""
        with write_transaction(self.conn):
            self.conn.execute(self.q["delete_terminal"], {"id": job_id})
            if not self.conn.changes():
                self._guard(job_id, "completed, failed or cancelled")

    def pending_position(self, job_id: str) -> int | None:
        """1 for the job claimed next, None when not pending; counts the jobs ahead (jobs_pending index)."""
        rows = self._rows("pending_position", id=job_id)
        return int(rows[0][0]) if rows else None

    @writes
    def create_jobs(self, specs: Iterable[dict[str, Any]]) -> list[Job]:
        """``create_job`` for each spec (its keyword arguments, ``workflow`` included) in one transaction:
        a burst of submissions pays for one commit, and either all of them are stored or none."""
        with write_transaction(self.conn):
            return [self._insert_job(**spec) for spec in specs]

    def _insert_job(self, workflow: dict[str, Any], *, images: Iterable[InputImage] = (),
                    options: dict[str, Any] | None = None, priority: int = 0, max_attempts: int = 3,
                    timeout_s: float | None = None, owner: str = DEFAULT_OWNER) -> Job:
        job_id, now = str(uuid.uuid4()), self.clock()
        # options first: a secret among them stays on the row's own page, which secure_delete wipes when scrubbed
        request = {"options": options or {}, "workflow": workflow}
        self.conn.execute(self.q["insert_job"], {
            "id": job_id, "priority": priority, "request": _json(request), "created_at": now,
            "max_attempts": max_attempts, "timeout_s": timeout_s, "owner": owner,
        })
        for idx, image in enumerate(images):
            self.conn.execute(self.q["insert_input"],
                              {"job_id": job_id, "idx": idx, "name": image.name, "data": image.data})
        return Job(id=job_id, status=JobStatus.PENDING, priority=priority, request=request, result=None,
                   error=None, created_at=now, started_at=None, completed_at=None, attempts=0,
                   max_attempts=max_attempts, timeout_s=timeout_s, worker_id=None, heartbeat_at=None,
                   progress=None, cancel_requested=False)


__all__ = ["Store", "decode_cursor", "encode_cursor"]
