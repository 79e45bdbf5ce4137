"""An online, consistent copy of the database with SQLite's backup API, while every process keeps writing.

The copy is made in one backup step under one read transaction: in WAL mode that blocks no writer and sees
exactly the transactions committed when it began. It is written next to the target, switched to a rollback
journal (one self-contained file, no ``-wal``/``-shm``), checked with ``PRAGMA integrity_check``, and only
then renamed over the target, so a crash mid-backup never leaves a half-written copy at ``target``.
"""

from __future__ import annotations

import contextlib
import os
import time

import apsw
import msgspec

from store.connection import connect, create_private
from store.errors import StoreError


class BackupFailed(StoreError):
    """The copy of the database is not sound."""


class BackupResult(msgspec.Struct, frozen=True):
    path: str
    pages: int
    bytes: int
    seconds: float


def target_path(target: str, source: str, now: float | None = None) -> str:
    """``target`` itself, or a timestamped file inside it when it is a folder."""
    if not os.path.isdir(target):
        return target
    stem = os.path.splitext(os.path.basename(source))[0]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return os.path.join(target, f"{stem}-{stamp}.db")


def integrity(conn: apsw.Connection) -> list[str]:
    """Problems ``PRAGMA integrity_check`` finds; empty when the database is sound."""
    rows = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def backup(source: str, target: str, *, busy_timeout_ms: int = 5000) -> BackupResult:
    """Copy the database at ``source`` to ``target`` (a file, or a folder for a timestamped file)."""
    if not os.path.isfile(source):
        raise StoreError(f"no database at {source}")
    final = target_path(target, source)
    partial = f"{final}.partial"
    started = time.monotonic()
    try:
        pages, problems = _copy(source, partial, busy_timeout_ms)
    except apsw.Error as exc:
        _remove(partial)
        raise StoreError(f"backup of {source} to {final} failed: {exc}") from exc
    if problems:
        raise BackupFailed(f"the copy at {partial} failed integrity_check: {problems[:5]}")
    os.replace(partial, final)
    return BackupResult(path=final, pages=pages, bytes=os.path.getsize(final),
                        seconds=round(time.monotonic() - started, 3))


def _copy(source: str, partial: str, busy_timeout_ms: int) -> tuple[int, list[str]]:
    """(pages copied, integrity problems of the copy)."""
    _remove(partial)
    src = connect(source, busy_timeout_ms=busy_timeout_ms)
    try:
        create_private(partial)  # a backup holds every job: readable by this user only
        dest = apsw.Connection(partial)
        try:
            with dest.backup("main", src, "main") as step:
                step.step(-1)  # every page at once: one read transaction, one consistent snapshot
                pages = step.page_count
            dest.execute("PRAGMA journal_mode = DELETE")
            return pages, integrity(dest)
        finally:
            dest.close()
    finally:
        src.close()


def _remove(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
