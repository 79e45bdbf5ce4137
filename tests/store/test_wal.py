"""store.wal: the WAL backlog read from the WAL-index, and the checkpoint that empties it."""

from __future__ import annotations

import os
from pathlib import Path

from store import InputImage, Store, wal


def test_the_backlog_counts_the_pages_written_and_not_yet_copied_back(db_path: str) -> None:
    store = Store(db_path)
    store.conn.execute("PRAGMA wal_autocheckpoint = 0")
    wal.checkpoint(store.conn)
    start = wal.backlog_pages(db_path)
    store.create_job({"1": {}}, images=[InputImage(name="a.png", data=os.urandom(400_000))])
    grown = wal.backlog_pages(db_path)
    assert grown >= start + 400_000 // 4096
    frames, copied = wal.checkpoint(store.conn)
    assert frames == copied == grown
    assert wal.backlog_pages(db_path) == 0
    store.create_job({"1": {}})  # the next write starts the WAL over
    assert 0 < wal.backlog_pages(db_path) < 20
    store.close()


def test_no_wal_index_or_a_foreign_one_is_no_backlog(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    assert wal.backlog_pages(db) == 0
    with open(db + "-shm", "wb") as f:
        f.write(b"\xff" * 200)
    assert wal.backlog_pages(db) == 0
    with open(db + "-shm", "wb") as f:
        f.write(b"\x00" * 10)
    assert wal.backlog_pages(db) == 0
