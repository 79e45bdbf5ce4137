"""The warm-up of each ComfyUI instance (WARMUP_WORKFLOW), as its executor reports it: for /health, /ready and
the metrics. A mixin of ``Store``.

An instance's row goes ``pending -> running -> ok | failed``: the executor writes ``running`` when it starts the
warm-up and the outcome when it ends; the supervisor sets ``pending`` when that ComfyUI stops running (a restart
needs a new warm-up) and deletes every row when the daemon starts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import apsw
import msgspec

from store.room import writes

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class WarmupState(enum.StrEnum):
    PENDING = "pending"  # its ComfyUI is (re)starting: a warm-up will follow
    RUNNING = "running"  # the executor runs the warm-up workflow; it claims no job meanwhile
    OK = "ok"  # the last warm-up succeeded
    FAILED = "failed"  # the last warm-up failed (``error``: ComfyUI's); the executor claims jobs anyway


class Warmup(msgspec.Struct, frozen=True):
    """One instance's warm-up: the current state, the last finished one's figures, and counts."""

    instance: int
    worker_id: str
    state: WarmupState
    runs: int  # warm-ups started since the daemon started
    failures: int  # of which failed
    started_at: float | None
    finished_at: float | None
    duration_s: float | None  # of the last finished warm-up
    error: dict[str, Any] | None  # ComfyUI's error of the last warm-up, when it failed
    updated_at: float


def _warmup(row: tuple[Any, ...]) -> Warmup:
    instance, worker_id, state, runs, failures, started_at, finished_at, duration_s, error, updated_at = row
    return Warmup(instance=instance, worker_id=worker_id, state=WarmupState(state), runs=runs, failures=failures,
                  started_at=started_at, finished_at=finished_at, duration_s=duration_s,
                  error=_decode(error) if error else None, updated_at=updated_at)


class Warmups:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    @writes
    def warmup_started(self, instance: int, worker_id: str) -> None:
        """pending | ok | failed | running -> running (a new warm-up of this instance's ComfyUI)."""
        self.conn.execute(self.q["warmup_started"], {"instance": instance, "worker_id": worker_id,
                                                     "now": self.clock()})

    @writes
    def warmup_finished(self, instance: int, worker_id: str, *, duration_s: float,
                        error: dict[str, Any] | None = None) -> bool:
        """running -> ok (no error) | failed; False when the row is no longer this worker's running warm-up
        (its ComfyUI stopped meanwhile and the supervisor reset it)."""
        state = WarmupState.FAILED if error is not None else WarmupState.OK
        self.conn.execute(self.q["warmup_finished"], {
            "instance": instance, "worker_id": worker_id, "state": str(state), "duration_s": duration_s,
            "error": _encode(error).decode() if error is not None else None, "now": self.clock()})
        return bool(self.conn.changes())

    @writes
    def warmup_reset(self, instance: int) -> None:
        """-> pending: this instance's ComfyUI stopped running; its next start needs a new warm-up."""
        self.conn.execute(self.q["warmup_reset"], {"instance": instance, "now": self.clock()})

    @writes
    def clear_warmups(self) -> None:
        self.conn.execute(self.q["delete_warmups"])

    def warmups(self) -> list[Warmup]:
        return [_warmup(row) for row in self._rows("list_warmups")]
