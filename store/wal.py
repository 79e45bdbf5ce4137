"""How much of the write-ahead log is not yet copied back into the database, read without a connection.

Every byte a job stores goes to the WAL first and is copied into the database file by a checkpoint, which
SQLite runs in whichever connection's commit takes the WAL past ``wal_autocheckpoint`` pages: with 780 KB
images in and out, that is the commit of every tenth job, blocked ~80 ms (20 ms of CPU, mostly the file
writes and their fsync). The supervisor's maintenance thread checkpoints before the writers get there (see
supervisor/maintenance.py), reading the backlog here every tick.

The backlog is ``mxFrame - nBackfill`` of the WAL-index (the ``-shm`` file, https://www.sqlite.org/walformat.html):
the frames written, less those already copied back. Only a trigger: a misread delays or hastens a checkpoint,
nothing else (the writers' ``wal_autocheckpoint`` stays as it was, the safety net).
"""

from __future__ import annotations

import struct

import apsw

_HEADER = struct.Struct("=I4xI2xHI")  # iVersion, (unused), iChange, (isInit, bigEndCksum), szPage, mxFrame
_BACKFILL = struct.Struct("=I")  # nBackfill: the first field of WalCkptInfo, after the header's two copies
_BACKFILL_AT = 96
_VERSION = 3007000  # WALINDEX_VERSION


def backlog_pages(database: str) -> int:
    """Frames in the WAL not yet checkpointed; 0 when there is no WAL-index (or one of another format)."""
    try:
        with open(database + "-shm", "rb", buffering=0) as f:
            head = f.read(_BACKFILL_AT + _BACKFILL.size)
    except OSError:
        return 0
    if len(head) < _BACKFILL_AT + _BACKFILL.size:
        return 0
    version, _change, _page_size, frames = _HEADER.unpack_from(head)
    (backfilled,) = _BACKFILL.unpack_from(head, _BACKFILL_AT)
    if version != _VERSION:
        return 0
    return max(int(frames) - int(backfilled), 0)


def checkpoint(conn: apsw.Connection) -> tuple[int, int]:
    """A PASSIVE checkpoint on ``conn`` (it waits for no reader or writer): (frames in the WAL, frames copied
    back)."""
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return (int(row[1]), int(row[2])) if row else (0, 0)
