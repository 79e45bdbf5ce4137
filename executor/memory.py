"""How much memory a ComfyUI uses, measured between jobs for the memory limits (COMFYUI_MAX_RSS_MB,
COMFYUI_MAX_VRAM_MB).

- RSS: a spawned ComfyUI's process and its descendants, from ``/proc/<pid>/status`` (the pid the supervisor
  recorded in the store); an attached one (COMFYUI_URL) runs elsewhere and is not measured.
- VRAM: ``GET /system_stats``, ``vram_total - vram_free`` of each GPU device (a ``cpu`` or ``mps`` device
  reports the host's RAM there, so it is not counted).
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

MB = 1024 * 1024
NOT_GPU = ("cpu", "mps")


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    rss_bytes: int | None  # None: not measurable (attached, or the process is gone)
    vram_bytes: int | None  # None: no GPU device reported

    def over(self, max_rss_mb: float, max_vram_mb: float) -> str | None:
        """Which limit it passes ("rss" or "vram"), None when under both (a limit of 0 is no limit)."""
        if max_rss_mb and self.rss_bytes is not None and self.rss_bytes > max_rss_mb * MB:
            return "rss"
        if max_vram_mb and self.vram_bytes is not None and self.vram_bytes > max_vram_mb * MB:
            return "vram"
        return None


def _rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # a zombie or a kernel thread has no VmRSS


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        found = [int(c) for c in f.read().split()]
    return found


def tree_rss(pid: int) -> int | None:
    """The RSS of ``pid`` and of every descendant; None when ``pid`` is gone."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += _rss_of(current)
        except (OSError, ValueError):
            if current == pid:
                return None
            continue
        todo.extend(_children(current))
    return total


def gpu_used(system_stats: dict[str, Any]) -> int | None:
    """Memory in use on ComfyUI's GPU devices, from its /system_stats answer; None without a GPU."""
    used = None
    for device in system_stats.get("devices") or []:
        if not isinstance(device, dict) or device.get("type") in NOT_GPU:
            continue
        total, free = device.get("vram_total"), device.get("vram_free")
        if isinstance(total, int | float) and isinstance(free, int | float):
            used = (used or 0) + int(total - free)
    return used
