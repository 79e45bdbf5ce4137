"""Opening the database: WAL, synchronous mode, busy timeout, foreign keys, and migrations."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

import apsw

from store.queries import migrations

Synchronous = Literal["NORMAL", "FULL"]

# Tests only: a page limit for every connection of every process (``PRAGMA max_page_count`` is per connection),
# so a store is "full" on any machine without a special mount. Never set in production.
TEST_MAX_PAGE_COUNT_ENV = "COMFYUI_WORKER_TEST_MAX_PAGE_COUNT"
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # after a checkpoint the WAL file is truncated back to this


def connect(path: str, *, synchronous: Synchronous = "NORMAL", busy_timeout_ms: int = 5000) -> apsw.Connection:
    """A connection for one thread (apsw connections must not be shared across threads)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    create_private(path)
    conn = apsw.Connection(path)
    conn.set_busy_handler(_FairBusyHandler(busy_timeout_ms / 1000))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = FAST")  # a scrubbed secret leaves no copy in the file (or a backup)
    conn.execute("PRAGMA wal_autocheckpoint = 4000")  # fewer checkpoints than 1000 pages: more claims/s
    # a large output's transaction grows the WAL; without a limit it keeps that size on disk for good
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    if limit := os.environ.get(TEST_MAX_PAGE_COUNT_ENV):
        conn.execute(f"PRAGMA max_page_count = {int(limit)}")
    return conn


def create_private(path: str) -> None:
    """Create the database file readable by this user only, if it does not exist: SQLite gives its -wal and
    -shm files the database file's permissions, so the jobs (workflows, inputs, outputs) stay private."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class _FairBusyHandler:
    """Retry a locked database every millisecond until the timeout.

    SQLite's own busy handler sleeps ever longer (up to 100 ms a try), so a waiter misses the short gaps a
    busy writer leaves between transactions and starves (measured: 230 ms insert stalls during cleanup).
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.started = 0.0

    def __call__(self, count: int) -> bool:
        now = time.monotonic()
        if count == 0:
            self.started = now
        if now - self.started >= self.timeout_s:
            return False
        time.sleep(0.001)
        return True


@contextmanager
def write_transaction(conn: apsw.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE: take the write lock up front, so no reader-turned-writer deadlocks."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back after e.g. SQLITE_FULL: keep the first error
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a COMMIT that failed (disk full) may leave the transaction open
            conn.execute("ROLLBACK")
        raise


def user_version(conn: apsw.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])  # type: ignore[index]


def migrate(conn: apsw.Connection) -> tuple[int, int]:
    """Apply the migrations the database lacks, each in its own transaction; returns (from, to) versions."""
    before = user_version(conn)
    for version, script in migrations():
        with write_transaction(conn):
            if user_version(conn) >= version:  # another process migrated meanwhile
                continue
            conn.execute(script)
            conn.execute(f"PRAGMA user_version = {version}")
    return before, user_version(conn)
