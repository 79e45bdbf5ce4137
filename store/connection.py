"""Opening the database: WAL, synchronous mode, busy timeout, foreign keys, and migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import apsw

from store.queries import migrations

Synchronous = Literal["NORMAL", "FULL"]


def connect(path: str, *, synchronous: Synchronous = "NORMAL", busy_timeout_ms: int = 5000) -> apsw.Connection:
    """A connection for one thread (apsw connections must not be shared across threads)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    conn = apsw.Connection(path)
    conn.set_busy_timeout(busy_timeout_ms)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def write_transaction(conn: apsw.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE: take the write lock up front, so no reader-turned-writer deadlocks."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


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
