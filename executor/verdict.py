"""What a prompt's end means for its job: the error it fails with (None: completed), and whether ComfyUI ran
out of memory (then the executor frees ComfyUI's memory and runs the job once more)."""

from __future__ import annotations

import enum
from typing import Any

from executor.errors import ExecutionFailed, InvalidInput, JobFailed, TimedOut, execution_error
from executor.outputs import Collected
from executor.protocol import HistoryEntry, Outcome

# ComfyUI's execution_error for an out-of-memory node: exception_type "torch.OutOfMemoryError" (older torch:
# "torch.cuda.OutOfMemoryError"), message "Allocation on device" or "CUDA out of memory" (execution.py adds tips)
OOM_TYPES = ("OutOfMemoryError",)
OOM_MESSAGES = ("Allocation on device", "out of memory")


class Ending(enum.Enum):
    NORMAL = "normal"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


def out_of_memory(entry: HistoryEntry | None) -> bool:
    """The prompt failed because the device (or host) had no memory left."""
    if entry is None or entry.outcome is not Outcome.ERROR or not entry.error:
        return False
    kind = str(entry.error.get("exception_type", ""))
    message = str(entry.error.get("exception_message", ""))
    return any(kind.endswith(t) for t in OOM_TYPES) or any(m in message for m in OOM_MESSAGES)


def stopped_error(ending: Ending, *, timeout_s: float, stop_requested: bool) -> JobFailed:
    """The error of a job stopped for its deadline or by reset-stuck."""
    if stop_requested:
        return TimedOut("job ran longer than the stuck-job limit (reset-stuck) and was interrupted",
                        timeout_s=timeout_s, stopped_by="reset_stuck")
    return TimedOut(f"job ran longer than its deadline of {timeout_s:g} s and was interrupted", timeout_s=timeout_s)


def job_error(ending: Ending, entry: HistoryEntry | None, collected: Collected, *, timeout_s: float,
              stop_requested: bool) -> JobFailed | None:
    if ending is Ending.TIMEOUT:
        return stopped_error(ending, timeout_s=timeout_s, stop_requested=stop_requested)
    if entry is None:
        return ExecutionFailed("ComfyUI gave no result for the prompt")
    if entry.outcome is Outcome.ERROR:
        return execution_error(entry.error or {})
    if entry.outcome is Outcome.INTERRUPTED:
        return ExecutionFailed("the prompt was interrupted in ComfyUI", exception_type="interrupted")
    if collected.unservable:
        ref = collected.unservable[0]
        return InvalidInput(f"node {ref.node_id} wrote {ref.filename!r}, a file name ComfyUI cannot serve back "
                            "(control characters, e.g. from a filename_prefix)", node_id=ref.node_id,
                            filename=ref.filename)
    if collected.missing:
        names = ", ".join(r.filename for r in collected.missing)
        return ExecutionFailed(f"ComfyUI reported outputs it does not have: {names}", exception_type="output_missing")
    return None


def error_detail(error: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of an execution_error worth a log line."""
    error = error or {}
    return {"node_id": error.get("node_id"), "node_type": error.get("node_type"),
            "exception_type": error.get("exception_type")}
