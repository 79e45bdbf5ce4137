"""Bulk data for tests and benchmarks (not used by the daemon)."""

from __future__ import annotations

from store.connection import write_transaction
from store.model import JobStatus
from store.queries import queries
from store.store import Store


def fill_jobs(store: Store, count: int, status: JobStatus, at: float, batch: int = 100_000) -> None:
    """Insert `count` jobs in `status`, created (and finished, for terminal states) at time `at`."""
    query = queries("testing.sql")["fill_jobs"]
    for start in range(0, count, batch):
        with write_transaction(store.conn):
            store.conn.execute(query, {"count": min(batch, count - start), "status": str(status), "at": at})


def fill_outputs(store: Store, count: int, size: int, at: float) -> None:
    """Insert `count` completed jobs finished at `at`, each with one stored output of `size` random bytes."""
    fill_jobs(store, count, JobStatus.COMPLETED, at)
    with write_transaction(store.conn):
        store.conn.execute(queries("testing.sql")["fill_outputs"], {"size": size, "at": at})
