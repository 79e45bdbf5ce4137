"""Every child's output line reaches our stdout as exactly one JSON object.

A line of one of our own children that already is a JSON object passes through unchanged; any other line
(every ComfyUI line: its JSON is not our log schema) is wrapped as
``{"event": "<kind>_output", "process": kind, "instance": i, "line": ..., "level": ...}``: ComfyUI's lines at
``error`` for its errors and tracebacks, else ``info`` (supervisor/comfylevels.py: it writes everything to
stderr); another child's stderr lines at ``warning``. No line is longer than ``config.logging.MAX_LINE_BYTES``:
long values are cut.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from typing import BinaryIO

import msgspec

from config.logging import MAX_LINE_BYTES, encode_line
from supervisor.comfylevels import LineLevels
from supervisor.process import ProcessSpec

MAX_LINE = 1 << 20  # a longer line is cut into pieces of this size, each wrapped

_decode = msgspec.json.Decoder().decode


class _AnyObject(msgspec.Struct):
    """Decoding into this checks that a line is one well-formed JSON object without building it."""


_check_object = msgspec.json.Decoder(_AnyObject).decode


def _is_json_object(line: bytes) -> bool:
    """A short ASCII line (every line our children's logger writes): checked without building its values
    (about 5x cheaper than decoding it); other lines are decoded, as the skipping check lets bad UTF-8 by."""
    try:
        if line.isascii():
            _check_object(line)
            return True
        return isinstance(_decode(line), dict)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):  # too deep
        return False


def render(line: bytes, spec: ProcessSpec, stream: str, pid: int | None = None,
           levels: LineLevels | None = None) -> bytes:
    """The JSON line (without newline) that stands for one output line of a child (``levels``: the stream's,
    for a ComfyUI line)."""
    stripped = line.rstrip(b"\r")
    if spec.kind != "comfyui" and stripped.startswith(b"{"):
        if len(stripped) <= MAX_LINE_BYTES:
            if _is_json_object(stripped):
                return stripped
        else:
            try:
                decoded = _decode(stripped)
                if isinstance(decoded, dict):
                    return encode_line(decoded)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: too deep to check
                pass
    text = stripped.decode("utf-8", errors="replace")
    if spec.kind == "comfyui":
        level = (levels or LineLevels()).level(text)
    else:
        level = "warning" if stream == "stderr" else "info"
    event: dict[str, object] = {
        "event": f"{spec.kind}_output",
        "level": level,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "process": spec.kind,
        "line": text,
    }
    if spec.instance is not None:
        event["instance"] = spec.instance
    if pid is not None:
        event["pid"] = pid
    return encode_line(event)


class LogRelay:
    """Reads children's pipes on the event loop and writes whole JSON lines to ``out``."""

    def __init__(self, out: BinaryIO, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.out = out
        self.loop = loop
        self.buffers: dict[int, bytearray] = {}
        self.owners: dict[int, tuple[ProcessSpec, str]] = {}
        self.levels: dict[int, LineLevels] = {}  # per pipe: a ComfyUI traceback spans lines

    def attach(self, spec: ProcessSpec, fd: int, stream: str) -> None:
        loop = self.loop or asyncio.get_running_loop()
        self.buffers[fd] = bytearray()
        self.owners[fd] = (spec, stream)
        self.levels[fd] = LineLevels()
        loop.add_reader(fd, self._readable, fd)

    def _readable(self, fd: int, final: bool = False) -> bool:
        """Read one chunk and write the whole lines in it; False once there is nothing more to read now."""
        spec, stream = self.owners[fd]
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            if final:  # a grandchild still holds the pipe: flush what we have and let go
                self._finish(fd)
            return False
        except OSError:
            chunk = b""
        buf = self.buffers[fd]
        if not chunk:
            self._finish(fd)
            return False
        buf += chunk
        lines = bytes(buf).split(b"\n")  # bytes, as render() takes and returns, not bytearrays
        rest = lines.pop()
        while len(rest) >= MAX_LINE:
            lines.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self.buffers[fd] = bytearray(rest)
        self._emit([line for line in lines if line.strip()], spec, stream, self.levels[fd])
        return True

    def _emit(self, lines: list[bytes], spec: ProcessSpec, stream: str, levels: LineLevels) -> None:
        if not lines:
            return
        self.out.write(b"".join(render(line, spec, stream, levels=levels) + b"\n" for line in lines))
        self.out.flush()

    def _finish(self, fd: int) -> None:
        spec, stream = self.owners.pop(fd)
        rest, levels = bytes(self.buffers.pop(fd)), self.levels.pop(fd)
        if rest.strip():
            self._emit([rest], spec, stream, levels)
        (self.loop or asyncio.get_running_loop()).remove_reader(fd)
        os.close(fd)

    def drain(self) -> None:
        """Read what is left in every pipe (its children have exited) and close them all."""
        for fd in list(self.owners):
            while self._readable(fd, final=True):
                pass
