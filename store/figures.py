"""Figures every process of the daemon adds to and the HTTP transport's /metrics reads: counters and histograms
kept in the store (a row per name, label set and bucket, never per job), so the executor's and the supervisor's
figures are in the one scrape. A mixin of ``Store``.

Job figures are kept by triggers (migration 0006): each job that ends adds to three histograms labelled by outcome,
each requeue to a counter. Anything else calls ``count`` or ``observe``; a new histogram's bucket bounds are rows
of ``metric_bounds`` (added by the feature's migration). ``HELP`` describes each figure for the exposition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import apsw
import msgspec

from store.connection import write_transaction
from store.room import writes

_encode = msgspec.json.Encoder().encode
_decode_labels = msgspec.json.Decoder(dict[str, str]).decode

HELP: dict[str, str] = {
    "comfyui_worker_job_queue_wait_seconds": "Time a finished job waited from its submission to its (last) claim",
    "comfyui_worker_job_comfyui_seconds": "Time a finished job's prompt ran in ComfyUI (from its start there)",
    "comfyui_worker_job_duration_seconds": "Time from a job's submission to its end",
    "comfyui_worker_jobs_retried_total": "Running jobs put back to pending to be tried again (attempt spent)",
    "comfyui_worker_jobs_released_total": "Running jobs an executor gave back at shutdown (no attempt spent)",
    "comfyui_worker_jobs_recovered_total": "Running jobs taken back from a dead, silent or stuck executor, by where "
                                           "they went",
}

# counters shown at 0 before their first increment (a counter that appears at 1 loses that increment to rate())
ZEROS: dict[str, tuple[dict[str, str], ...]] = {
    "comfyui_worker_jobs_retried_total": ({},),
    "comfyui_worker_jobs_released_total": ({},),
    "comfyui_worker_jobs_recovered_total": ({"to": "pending"}, {"to": "failed"}, {"to": "cancelled"}),
}


class Counter(msgspec.Struct, frozen=True):
    name: str
    labels: dict[str, str]
    value: float


class Histogram(msgspec.Struct, frozen=True):
    """``buckets``: (upper bound, observations <= it), cumulative, the last bound +Inf."""

    name: str
    labels: dict[str, str]
    buckets: list[tuple[float, int]]
    count: int
    sum: float


class Snapshot(msgspec.Struct, frozen=True):
    counters: list[Counter]
    histograms: list[Histogram]


def labels_text(labels: Mapping[str, str] | None) -> str:
    """The stored form of a label set: JSON with sorted keys (what SQLite's json_object writes for one key)."""
    return _encode(dict(sorted((labels or {}).items()))).decode()


def _cumulative(bounds: list[float], found: dict[float, int], count: int) -> list[tuple[float, int]]:
    """Every bound's cumulative count, from the per-bucket counts (a bucket without a row had nothing)."""
    buckets, seen = [], 0
    for le in bounds:
        seen += found.get(le, 0)
        buckets.append((le, seen))
    if not bounds or not math.isinf(bounds[-1]):
        buckets.append((math.inf, count))
    return buckets


class Figures:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _set_comfyui_seconds(self, job_id: str, worker_id: str, seconds: float | None) -> None:
        """How long a job's prompt ran in ComfyUI, in the transaction that ends the job (before its end)."""
        if seconds is not None:
            self.conn.execute(self.q["set_comfyui_seconds"], {"id": job_id, "worker_id": worker_id,
                                                              "comfyui_s": seconds})

    def _add(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1.0) -> None:
        """Add to a counter within the caller's transaction."""
        self.conn.execute(self.q["add_to_counter"], {"name": name, "labels": labels_text(labels), "by": by})

    @writes
    def count(self, name: str, labels: Mapping[str, str] | None = None, by: float = 1.0) -> None:
        """Add ``by`` to a counter (its own write; its name ends ``_total``)."""
        self._add(name, labels, by)

    @writes
    def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """One observation of a histogram whose bounds are rows of ``metric_bounds``."""
        params = {"name": name, "labels": labels_text(labels), "value": value}
        with write_transaction(self.conn):
            self.conn.execute(self.q["observe_buckets"], params)
            self.conn.execute(self.q["observe_sum"], params)

    def oldest_pending_at(self) -> float | None:
        rows = self._rows("oldest_pending")
        return float(rows[0][0]) if rows else None

    def figures(self) -> Snapshot:
        """Every stored counter and histogram (a few hundred rows at most: bounded by names and labels)."""
        bounds: dict[str, list[float]] = {}
        for name, le in self._rows("metric_bounds"):
            bounds.setdefault(name, []).append(le)
        found: dict[tuple[str, str], dict[float, int]] = {}
        for name, labels, le, n in self._rows("metric_buckets"):
            found.setdefault((name, labels), {})[le] = n
        histograms = [Histogram(name=name, labels=_decode_labels(labels), count=count, sum=total,
                                buckets=_cumulative(bounds.get(name, []), found.get((name, labels), {}), count))
                      for name, labels, count, total in self._rows("metric_histograms")]
        kept = {(name, labels): value for name, labels, value in self._rows("metric_counters")}
        for name, label_sets in ZEROS.items():
            for labels in label_sets:
                kept.setdefault((name, labels_text(labels)), 0.0)
        counters = [Counter(name=name, labels=_decode_labels(labels), value=value)
                    for (name, labels), value in sorted(kept.items())]
        return Snapshot(counters=counters, histograms=histograms)
