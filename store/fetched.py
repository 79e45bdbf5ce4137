"""Inputs the executor fetched for a job (a URL or ``s3://`` entry of ``images[]``), kept with the job's other
inputs so a retry of the job never fetches them again. A mixin of ``Store``."""

from __future__ import annotations

from typing import Any

import apsw

from store.room import writes


class Fetched:
    """The attributes and ``_guard`` are ``Store``'s."""

    conn: apsw.Connection
    q: dict[str, str]

    def _guard(self, job_id: str, wanted: str) -> None:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    @writes
    def add_fetched_input(self, job_id: str, worker_id: str, idx: int, name: str, data: bytes) -> None:
        """Keep a fetched input of a job this worker runs; InvalidTransition/JobNotFound when it is not."""
        params: dict[str, Any] = {"job_id": job_id, "worker_id": worker_id, "idx": idx, "name": name, "data": data}
        self.conn.execute(self.q["insert_fetched_input"], params)
        if not self.conn.changes():
            self._guard(job_id, f"running under {worker_id}")
