"""Operations on the whole queue rather than one job: purge every pending job, count the retried ones.
A mixin of ``Store`` (RunPod's ``/purge-queue`` and ``/health`` ask for them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from store.connection import write_transaction
from store.room import writes


class Queue:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    @writes
    def purge_pending(self) -> list[str]:
        """pending -> cancelled for every pending job, in one transaction; running jobs are left alone.
        Returns the ids of the cancelled jobs."""
        with write_transaction(self.conn):
            return [job_id for (job_id,) in self._rows("cancel_all_pending", now=self.clock())]

    def retried_count(self) -> int:
        """Live jobs on a later attempt (requeued after a crash and waiting, or running again)."""
        return int(self._rows("count_retried")[0][0])
