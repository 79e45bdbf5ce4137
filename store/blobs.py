"""Output bytes read a chunk at a time (SQLite incremental blob I/O), on a connection of their own.

A ``BlobReader`` holds one read transaction from its first read to ``close()``: what it streams is one
consistent snapshot even if cleanup deletes the job meanwhile. It has its own connection because an open blob
pins its connection's snapshot: on a ``Store``'s connection it would hide every later commit from that Store.
Like every connection here it is used by one thread (the stream's own).
"""

from __future__ import annotations

from typing import Any

import apsw

from store.connection import connect
from store.model import OutputRef
from store.queries import queries


class BlobReader:
    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.conn = connect(path, busy_timeout_ms=busy_timeout_ms)
        self.q = queries()
        self._blob: apsw.Blob | None = None
        self._row = -1
        self.conn.execute("BEGIN")  # deferred: the snapshot starts with the first read

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(self.q[name], params).fetchall()

    def refs(self, job_id: str) -> list[OutputRef]:
        """The job's stored outputs in this snapshot, without their bytes."""
        return [OutputRef(*row) for row in self._rows("output_refs", job_id=job_id)]

    def ref(self, job_id: str, index: int) -> OutputRef | None:
        rows = self._rows("output_ref", job_id=job_id, idx=index)
        return OutputRef(*rows[0]) if rows else None

    def _open(self, ref: OutputRef) -> apsw.Blob:
        if self._blob is None or self._row != ref.row:
            self._close_blob()
            self._blob = self.conn.blob_open("main", "job_outputs", "data", ref.row, False)
            self._row = ref.row
        return self._blob

    def read(self, ref: OutputRef, size: int) -> bytes:
        """The next ``size`` bytes of this output (fewer at its end, ``b""`` after it)."""
        return self._open(ref).read(size)

    def seek(self, ref: OutputRef, offset: int) -> None:
        """The next read of this output starts at byte ``offset`` (a ranged download)."""
        self._open(ref).seek(offset)

    def _close_blob(self) -> None:
        if self._blob is not None:
            self._blob.close()
            self._blob, self._row = None, -1

    def close(self) -> None:
        self._close_blob()
        self.conn.execute("ROLLBACK")
        self.conn.close()


__all__ = ["BlobReader"]
