"""What the daemon did to keep itself running (issue 12): each action a counter with its last time and detail,
in the ``operations`` table, for the metrics and /health. A mixin of ``Store``.

The names are stable (``OPERATIONS``); the metrics expose ``count`` as a ``_total`` and ``last_at`` as a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw
import msgspec

from store.room import writes

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode

OPERATIONS = {
    "comfyui_stuck": "a prompt ignored its interrupt for INTERRUPT_GRACE_S: ComfyUI restarted",
    "comfyui_unresponsive": "ComfyUI stopped answering while a job ran: ComfyUI restarted",
    "memory_restart": "ComfyUI's RSS or VRAM passed its limit: drained and restarted between two jobs",
    "memory_freed": "POST /free asked of ComfyUI (an attached one over its limit)",
    "oom_retry": "a job failed with an out-of-memory error: memory freed and the job run once more",
    "backup_completed": "a scheduled backup written and checked",
    "backup_failed": "a scheduled backup could not be written or failed its check",
}


class Operation(msgspec.Struct, frozen=True):
    name: str
    count: int
    last_at: float
    last_detail: dict[str, Any] | None


class Operations:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]
    q: dict[str, str]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    @writes
    def record_operation(self, name: str, **detail: Any) -> None:
        """Count one ``name`` (one of OPERATIONS), keeping its time and ``detail``."""
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r}")
        self.conn.execute(self.q["record_operation"], {"name": name, "now": self.clock(),
                                                       "detail": _encode(detail).decode() if detail else None})

    def operations(self) -> dict[str, Operation]:
        return {name: Operation(name=name, count=count, last_at=last_at,
                                last_detail=_decode(detail) if detail else None)
                for name, count, last_at, detail in self._rows("list_operations")}
