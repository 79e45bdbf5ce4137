"""``Range: bytes=...`` of an output download (RFC 9110 section 14), so a large output can be resumed.

One range is served (``206`` with ``Content-Range``). The whole output (``200``) is sent for no header, a unit
other than ``bytes`` (which RFC 9110 says to ignore), several ranges (allowed by RFC 9110; a client resuming a
download asks for one), or an ``If-Range`` that does not match the output's ETag. A ``bytes`` range that is
malformed, or that starts past the end, is refused: ``416`` with ``Content-Range: bytes */<size>`` (a client
that asked for part of a file must never take the whole file for that part).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from transports.errors import TransportError

MAX_HEADER = 200  # characters of a Range header read at all
_SPEC = re.compile(r"([0-9]{1,19})-([0-9]{0,19})|-([0-9]{1,19})")


class ByteRange(NamedTuple):
    start: int
    stop: int  # exclusive

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{size}"


class RangeNotSatisfiable(TransportError):
    """The Range header asks for bytes this output does not have."""

    def __init__(self, detail: str, size: int) -> None:
        super().__init__(detail)
        self.size = size


def etag(job_id: str, index: int, size: int) -> str:
    """An output never changes once stored (a job id is never reused): its id, index and size name it."""
    return f'"{job_id}-{index}-{size}"'


def parse(header: str | None, size: int, *, if_range: str | None = None, tag: str = "") -> ByteRange | None:
    """The one range to serve, or None for the whole output; RangeNotSatisfiable for a bad ``bytes`` range."""
    if header is None or (if_range is not None and if_range.strip() != tag):
        return None
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None  # another unit (or none): ignored
    if len(header) > MAX_HEADER:
        raise RangeNotSatisfiable(f"the Range header is longer than {MAX_HEADER} characters", size)
    parts = [part.strip() for part in specs.split(",")]
    if len(parts) > 1 and all(_SPEC.fullmatch(part) for part in parts):
        return None  # several ranges: the whole output
    match = _SPEC.fullmatch(parts[0]) if len(parts) == 1 else None
    if match is None:
        raise RangeNotSatisfiable(f"the Range header {header[:60]!r} is not bytes=<first>-[<last>] or "
                                  "bytes=-<suffix length>", size)
    first, last, suffix = match.groups()
    if suffix is not None:
        if int(suffix) == 0 or size == 0:
            raise RangeNotSatisfiable("the Range header asks for no bytes", size)
        return ByteRange(max(0, size - int(suffix)), size)
    start = int(first)
    stop = size if not last else min(size, int(last) + 1)
    if last and int(last) < start:
        raise RangeNotSatisfiable("the Range header's last byte is before its first", size)
    if start >= size:
        raise RangeNotSatisfiable(f"the Range header starts at byte {start}, the output has {size} bytes", size)
    return ByteRange(start, stop)


__all__ = ["ByteRange", "RangeNotSatisfiable", "etag", "parse"]
