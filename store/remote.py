"""The forwarder's side of the store (the overflow to a RunPod endpoint, issue 16): its claim under the overflow
policy, the remote job's id written before anything depends on it, and the figures of where jobs ran.
A mixin of ``Store``.

A job goes to RunPod at most once per id it could get there: ``mark_remote_sent`` is committed before the
POST /run, ``set_remote_id`` right after it answered. A job with the first and not the second may be on RunPod
under an id nobody knows: it is never sent again (``claim_remote`` skips it; a local executor may still run it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from store.model import Job, RemoteRef
from store.room import writes


class Remote:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _guard(self, job_id: str, wanted: str) -> None:
        raise NotImplementedError

    def _to_job(self, row: tuple[Any, ...]) -> Job:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    @writes
    def claim_remote(self, worker_id: str, *, queue_depth: int | None, wait_s: float | None,
                     fresh_s: float = 0.0) -> Job | None:
        """pending -> running for the forwarder: a job already on RunPod (resumed), else the next job in claim
        order when more than ``queue_depth`` jobs are pending or it was created more than ``wait_s`` ago (a policy
        given as None is off), never one created less than ``fresh_s`` ago. Marks the job ``ran_on = 'runpod'``."""
        rows = self._rows("claim_remote", worker_id=worker_id, now=self.clock(), depth=queue_depth, wait_s=wait_s,
                          fresh_s=fresh_s)
        return self._to_job(rows[0]) if rows else None

    @writes
    def mark_remote_sent(self, job_id: str, worker_id: str) -> None:
        """Before the POST /run: from now on the job may be on RunPod. Raises InvalidTransition when it is not
        running under this worker, or was sent before."""
        self.conn.execute(self.q["mark_remote_sent"], {"id": job_id, "worker_id": worker_id, "now": self.clock()})
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}, never sent to RunPod")

    @writes
    def set_remote_id(self, job_id: str, worker_id: str, remote_id: str) -> None:
        """RunPod's id of the job, as its POST /run answered."""
        self.conn.execute(self.q["set_remote_id"], {"id": job_id, "worker_id": worker_id, "remote_id": remote_id})
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}, sent to RunPod without an id")

    @writes
    def forget_remote(self, job_id: str, worker_id: str) -> None:
        """RunPod certainly holds no live job for it (the POST was refused, or the remote job ended): a later
        attempt may send it again."""
        self.conn.execute(self.q["forget_remote"], {"id": job_id, "worker_id": worker_id})
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}")

    def remote_of(self, job_id: str) -> RemoteRef | None:
        rows = self._rows("get_remote", id=job_id)
        return RemoteRef(*rows[0]) if rows else None

    def running_of(self, worker_id: str) -> list[str]:
        """The ids of the jobs running under this worker id."""
        return [job_id for (job_id,) in self._rows("running_of", worker_id=worker_id)]

    def places(self) -> dict[str, dict[str, int]]:
        """Jobs per place they ran on ('local', 'runpod'): ``running`` now, and ``completed``, ``failed`` and
        ``cancelled`` since the store was made (counters kept by a trigger; cleanup does not lower them)."""
        out: dict[str, dict[str, int]] = {}
        for place, status, n in self._rows("place_counts"):
            out.setdefault(place, {"running": 0, "completed": 0, "failed": 0, "cancelled": 0})[status] = n
        for place, n in self._rows("running_places"):
            if place is not None:
                out.setdefault(place, {"running": 0, "completed": 0, "failed": 0, "cancelled": 0})["running"] = n
        return out
