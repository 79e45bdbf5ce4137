"""Recovery of running jobs: those of a worker that died, those whose heartbeat went stale, and the stuck-job
reset (which never requeues a job its executor still heartbeats). A mixin of ``Store``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import apsw
import msgspec

from store.connection import write_transaction
from store.model import JobStatus, Recovered, StuckReset
from store.room import writes

_encode = msgspec.json.Encoder().encode


class Recovery:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    @writes
    def _recover(self, reason: str, **params: Any) -> list[Recovered]:
        error = {"type": "comfyui_unavailable", "message": f"attempts used up ({reason})"}
        with write_transaction(self.conn):
            rows = self._recover_rows(error, **params)
        return [Recovered(id=job_id, status=JobStatus(status)) for job_id, status in rows]

    def _add(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1.0) -> None:
        raise NotImplementedError

    def _recover_rows(self, error: dict[str, Any], **params: Any) -> list[tuple[Any, ...]]:
        wanted = {"worker_id": None, "stale_before": None, "limit_s": None, "own_deadline": 0,
                  "default_timeout_s": None, **params}
        rows = self._rows("recover", error=_encode(error).decode(), now=self.clock(), **wanted)
        for status, n in Counter(status for _, status in rows).items():  # in the recovery's transaction
            self._add("comfyui_worker_jobs_recovered_total", {"to": status}, n)
        return rows

    def recover_worker(self, worker_id: str) -> list[Recovered]:
        """Every running job of a worker that died: requeued, or failed when its attempts are used up."""
        return self._recover(f"worker {worker_id} died", worker_id=worker_id)

    def recover_stale(self, older_than_s: float) -> list[Recovered]:
        """Running jobs whose heartbeat is older than this: requeued or failed."""
        return self._recover("heartbeat lost", stale_before=self.clock() - older_than_s)

    def reset_stuck(self, max_running_hours: float, *, stale_after_s: float,
                    default_timeout_s: float | None = None) -> StuckReset:
        """Running jobs claimed longer ago than ``max_running_hours`` (the seed's /admin/reset-stuck).

        Those whose heartbeat is older than ``stale_after_s`` (no executor runs them) are requeued or ended;
        those whose executor still heartbeats are flagged ``stop_requested``: that executor interrupts them and
        fails them with ``timeout`` (a job is never requeued while its executor runs it). With
        ``default_timeout_s`` (the hourly maintenance) each job's own deadline (its ``timeout_s``, else this)
        is added to the limit, so a job within its deadline is left alone."""
        params = {"limit_s": max_running_hours * 3600, "own_deadline": int(default_timeout_s is not None),
                  "default_timeout_s": default_timeout_s, "stale_before": self.clock() - stale_after_s}
        error = {"type": "comfyui_unavailable", "message": "attempts used up (stuck, heartbeat lost)"}
        with write_transaction(self.conn):
            rows = self._recover_rows(error, **params)
            stopping = [job_id for (job_id,) in self._rows("request_stop", now=self.clock(), **params)]
        if rows:
            self.committed("reset_stuck")
        return StuckReset(recovered=[Recovered(id=job_id, status=JobStatus(status)) for job_id, status in rows],
                          stopping=stopping)
