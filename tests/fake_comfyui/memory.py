"""What the fake reports of its memory, for the daemon's memory hygiene (issue 12).

- VRAM: with ``vram_total_mb`` > 0, ``GET /system_stats`` lists one CUDA device the way ComfyUI 0.3.64 does
  (``name`` "cuda:0 <GPU> : <allocator>", ``type`` "cuda", ``index`` 0, ``vram_*`` and ``torch_vram_*`` in
  bytes) instead of the recorded CPU device. Each prompt leaves ``vram_per_prompt_mb`` more in use (models and
  caches loaded); ComfyUI's ``unload_all_models`` (POST /free with unload_models or free_memory, and after an
  out-of-memory error, execution.py) gives it back.
- RSS: each prompt keeps ``rss_per_prompt_mb`` of real, written memory for good (a leak): the process's
  ``/proc/<pid>/status`` VmRSS grows, which is what the daemon measures for a spawned ComfyUI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .execution import Config

MB = 1024 * 1024
GPU_NAME = "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"


class Memory:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.vram_used = 0
        self.leaked: list[bytearray] = []

    def after_prompt(self) -> None:
        self.vram_used += int(self.config.vram_per_prompt_mb * MB)
        if self.config.rss_per_prompt_mb > 0:
            self.leaked.append(bytearray(b"\x01") * int(self.config.rss_per_prompt_mb * MB))  # pages touched

    def unload_all_models(self) -> None:
        self.vram_used = 0

    def devices(self, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        total = int(self.config.vram_total_mb * MB)
        if total <= 0:
            return recorded
        used = min(self.vram_used, total)
        return [{"name": GPU_NAME, "type": "cuda", "index": 0, "vram_total": total, "vram_free": total - used,
                 "torch_vram_total": used, "torch_vram_free": 0}]
