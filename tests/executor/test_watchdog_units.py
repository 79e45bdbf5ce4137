"""What the executor reads from ComfyUI's answers for memory hygiene: out-of-memory errors, GPU memory in use."""

from __future__ import annotations

import json
import os
from pathlib import Path

from executor.memory import Usage, gpu_used, tree_rss
from executor.protocol import HistoryEntry, Outcome
from executor.verdict import out_of_memory

PROTOCOL = Path(__file__).resolve().parents[1] / "fake_comfyui" / "data"
MB = 1024 * 1024


def entry(error: dict[str, object] | None, outcome: Outcome = Outcome.ERROR) -> HistoryEntry:
    return HistoryEntry(outcome=outcome, outputs={}, error=error)


def test_comfyuis_out_of_memory_errors_are_recognised_and_others_are_not() -> None:
    assert out_of_memory(entry({"exception_type": "torch.OutOfMemoryError",
                                "exception_message": "Allocation on device \nThis error means ..."}))
    assert out_of_memory(entry({"exception_type": "torch.cuda.OutOfMemoryError", "exception_message": "x"}))
    assert out_of_memory(entry({"exception_type": "RuntimeError",
                                "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB"}))
    assert not out_of_memory(entry({"exception_type": "FileNotFoundError", "exception_message": "no such file"}))
    assert not out_of_memory(entry(None, Outcome.SUCCESS)) and not out_of_memory(None)


def test_a_cpu_device_is_not_gpu_memory() -> None:
    recorded = json.loads((PROTOCOL / "system_stats.json").read_text())  # a real --cpu ComfyUI's answer
    assert gpu_used(recorded) is None
    cuda = {"devices": [{"type": "cuda", "vram_total": 1000 * MB, "vram_free": 400 * MB}]}
    assert gpu_used(cuda) == 600 * MB
    assert gpu_used({"devices": [{"type": "cuda", "vram_total": "?"}]}) is None


def test_limits_of_zero_are_no_limits() -> None:
    usage = Usage(rss_bytes=5000 * MB, vram_bytes=5000 * MB)
    assert usage.over(0, 0) is None
    assert usage.over(100, 0) == "rss" and usage.over(0, 100) == "vram"
    assert Usage(rss_bytes=None, vram_bytes=None).over(1, 1) is None


def test_rss_of_a_process_tree_counts_this_process() -> None:
    rss = tree_rss(os.getpid())
    assert rss is not None and rss > MB
    assert tree_rss(2**22 + 12345) is None  # above pid_max: never a process
