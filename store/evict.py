"""STORE_MAX_MB: the stored files of the oldest finished jobs go first, and their results say so.

A job keeps its row, status, error and result; each result entry whose bytes were in the store becomes
``{"type": "removed", "detail": ...}`` (filename, node id and content type kept), so ``/status`` tells the
client what happened instead of failing. Input images of finished jobs go too: nothing reads them again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from store.connection import write_transaction

if TYPE_CHECKING:
    from store.room import Room as Store

REMOVED = "removed"
DETAIL = "output removed to keep the job store under its size limit (STORE_MAX_MB)"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def removed_entry(entry: Any, at: float) -> Any:
    if not (isinstance(entry, dict) and entry.get("type") == "base64" and "output_index" in entry):
        return entry
    kept = {k: v for k, v in entry.items() if k not in ("output_index", "data")}
    return {**kept, "type": REMOVED, "removed_at": at, "detail": DETAIL}


def removed_result(result: dict[str, Any] | None, at: float) -> dict[str, Any] | None:
    """The result with every stored-bytes entry marked removed (S3 URLs and texts untouched)."""
    if result is None:
        return None
    return {key: [removed_entry(e, at) for e in entries] if isinstance(entries, list) else entries
            for key, entries in result.items()}


Row = tuple[str, float, "str | None", int]  # id, completed_at, result, bytes of its stored files


def _take(store: Store, need: int, batch: int) -> list[Row]:
    """The oldest candidates, up to ``batch``, stopping once their files add up to ``need`` bytes."""
    rows: list[Row] = store.conn.execute(  # type: ignore[assignment]
        store.q["evictable"], {"after": store.evicted_before, "batch": batch}).fetchall()
    taken, total = [], 0
    for row in rows:
        taken.append(row)
        total += row[3]
        if total >= need:
            break
    return taken


def evict_outputs(store: Store, max_used_bytes: int, *, batch: int = 20) -> tuple[int, int]:
    """Oldest finished first, a short transaction per batch, until the store uses at most ``max_used_bytes``.

    ``store.evicted_before`` remembers how far it got, so jobs already emptied are not scanned again."""
    q, jobs = store.q, 0
    before = store.space().store_used_bytes
    used = before
    while used > max_used_bytes:
        with write_transaction(store.conn):
            rows = _take(store, used - max_used_bytes, batch)
            now = store.clock()
            for job_id, _completed_at, result, _bytes in rows:
                marked = removed_result(_decode(result) if result else None, now)
                store.conn.execute(q["mark_outputs_removed"],
                                   {"id": job_id, "result": None if marked is None else _encode(marked).decode()})
                store.conn.execute(q["delete_outputs"], {"job_id": job_id})
                store.conn.execute(q["delete_inputs"], {"job_id": job_id})
        if not rows:
            break
        store.evicted_before = rows[-1][1]
        jobs += len(rows)
        store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        used = store.space().store_used_bytes
        time.sleep(0.002)  # let waiting writers in between batches
    return jobs, max(0, before - used)
