"""A webhook's body: ``{"type": <event>, "timestamp": <ISO 8601>, "data": <the status body>}``.

``data`` is what ``GET /status/{id}`` gives for the job as it was at the event (a snapshot written with the
event), with its stored outputs inline as base64 while their total stays within WEBHOOK_INLINE_OUTPUTS_MB; every
other stored output gets a ``url`` instead (``/jobs/{id}/outputs/{i}``, under PUBLIC_BASE_URL when set), so a
webhook never carries hundreds of megabytes.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

import msgspec

from store import Delivery, JobInfo, Store
from transports.render import has_stored_outputs, render_status

_encode = msgspec.json.Encoder().encode


def job_at_event(delivery: Delivery) -> JobInfo:
    snapshot = {**delivery.job, "worker_id": None, "heartbeat_at": None}
    return msgspec.convert(snapshot, JobInfo, strict=False)


def output_url(base_url: str | None, job_id: str, index: int) -> str:
    return f"{(base_url or '').rstrip('/')}/jobs/{job_id}/outputs/{index}"


def _inlined(store: Store, job: JobInfo, budget: int) -> dict[int, str]:
    """The base64 of the stored outputs that fit the budget, in index order."""
    if not has_stored_outputs(job.result):
        return {}
    found: dict[int, str] = {}
    for ref in store.output_refs(job.id):
        if ref.size > budget:
            continue
        out = store.get_output(job.id, ref.index)
        if out is not None:
            found[ref.index] = base64.b64encode(out.data).decode()
            budget -= ref.size
    return found


def _with_urls(result: dict[str, Any], job_id: str, inlined: dict[int, str], base_url: str | None) -> None:
    for entries in result.values():
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            index = entry.get("output_index") if isinstance(entry, dict) else None
            if entry_is_stored(entry) and isinstance(index, int) and index not in inlined:
                entries[i] = {**entry, "url": output_url(base_url, job_id, index)}


def entry_is_stored(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("type") == "base64" and "output_index" in entry


def render(store: Store, delivery: Delivery, *, inline_bytes: int, base_url: str | None) -> bytes:
    job = job_at_event(delivery)
    inlined = _inlined(store, job, inline_bytes)
    status = msgspec.to_builtins(render_status(job, data=inlined.get))
    if status.get("result"):
        _with_urls(status["result"], job.id, inlined, base_url)
    if job.status.terminal:  # the snapshot's progress and queue position mean nothing at the end
        status.pop("progress", None)
    timestamp = datetime.datetime.fromtimestamp(delivery.created_at, datetime.UTC).isoformat(timespec="milliseconds")
    return _encode({"type": delivery.event, "timestamp": timestamp.replace("+00:00", "Z"), "data": status})
