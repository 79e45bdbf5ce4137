"""How ``comfyui-worker submit`` shows a job: a live one-line bar on a terminal, JSON lines otherwise."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from transports.client.model import Status


class Reporter(Protocol):
    def submitted(self, job_id: str) -> None: ...

    def update(self, status: Status) -> None: ...

    def output(self, job_id: str, path: Path) -> None: ...

    def finished(self, job_id: str, event: str, exit_code: int, status: Status | None) -> None: ...


def reporter(stream: TextIO) -> Reporter:
    """A progress bar when ``stream`` is a terminal, JSON lines when it is a pipe or a file."""
    isatty = getattr(stream, "isatty", None)
    return TerminalBar(stream) if isatty is not None and isatty() else JsonLines(stream)


class JsonLines:
    """One JSON object per line: ``event`` (submitted, pending, running, output, completed, failed,
    cancelled, timeout) and ``job_id``, plus what the event carries."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _emit(self, event: str, job_id: str, **fields: Any) -> None:
        record = {"event": event, "job_id": job_id, **{k: v for k, v in fields.items() if v is not None}}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def submitted(self, job_id: str) -> None:
        self._emit("submitted", job_id)

    def update(self, status: Status) -> None:
        if status.terminal:
            return
        progress = None
        if status.progress is not None:
            p = status.progress
            progress = {"value": p.value, "max": p.max, "node": p.node, "node_type": p.node_type}
        self._emit(status.status, status.job_id, queue_position=status.queue_position, progress=progress,
                   cancel_requested=status.cancel_requested or None)

    def output(self, job_id: str, path: Path) -> None:
        self._emit("output", job_id, path=str(path), bytes=path.stat().st_size)

    def finished(self, job_id: str, event: str, exit_code: int, status: Status | None) -> None:
        self._emit(event, job_id, exit_code=exit_code, error=status.error if status else None,
                   result=_text_only(status))


def _text_only(status: Status | None) -> dict[str, Any] | None:
    """Text outputs (they are not files); the files were reported one ``output`` line each."""
    text = (status.result or {}).get("text") if status else None
    return {"text": text} if text else None


class TerminalBar:
    """``a1b2c3d4 running  node 3 KSampler  [######------] 12/20  0:07`` redrawn in place."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.drawn = False

    def _draw(self, text: str) -> None:
        self.stream.write("\r\x1b[2K" + text)
        self.stream.flush()
        self.drawn = True

    def _line(self, text: str) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[2K")
            self.drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def submitted(self, job_id: str) -> None:
        self._line(f"submitted job {job_id}")

    def update(self, status: Status) -> None:
        if not status.terminal:
            self._draw(f"{status.job_id[:8]} {describe(status, self.WIDTH)}  {self._elapsed()}")

    def output(self, job_id: str, path: Path) -> None:
        self._line(f"wrote {path}")

    def finished(self, job_id: str, event: str, exit_code: int, status: Status | None) -> None:
        detail = f": {status.error_message()}" if status is not None and status.error else ""
        self._line(f"{job_id[:8]} {event}{detail}  {self._elapsed()}")

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60}:{seconds % 60:02d}"


def describe(status: Status, width: int) -> str:
    """One line for a job not yet finished: its queue position, or its node and steps."""
    if status.status == "pending":
        place = f"  #{status.queue_position} in queue" if status.queue_position else ""
        return f"pending{place}"
    p = status.progress
    if p is None:
        return "running"
    node = " ".join(x for x in (f"node {p.node}" if p.node else "", p.node_type or "") if x)
    text = f"running  {node}"
    if p.max > 0:
        done = min(width, width * p.value // p.max)
        text += f"  [{'#' * done}{'-' * (width - done)}] {p.value}/{p.max}"
    return text + ("  (cancelling)" if status.cancel_requested else "")
