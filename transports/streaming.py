"""Large outputs leave the process a chunk at a time, never whole in memory.

A ``BodyStream`` is the bytes of one response: JSON pieces and stored outputs (raw, or base64-encoded chunk by
chunk: chunks of a multiple of 3 bytes encode to base64 that concatenates). It reads through a ``BlobReader``
of its own, on a thread of its own, so the event loop neither reads the blobs nor encodes them, and its
length is known before the first byte (a ``Content-Length``, not chunked encoding).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

import msgspec
import pybase64

from store import JobInfo, OutputRef
from store.blobs import BlobReader
from transports.bodies import StatusBody
from transports.render import render_status

CHUNK = 3 * 64 * 1024  # 192 KiB a step (256 KiB of base64; a multiple of 3: chunks encode on their own).
# Small steps share the CPU fairly: with 5 streams, 768 KiB steps doubled /health's p99 on a busy 2-core host.
STREAM_OVER = 1 << 20  # outputs larger than this (in total) are streamed; smaller ones are answered at once

T = TypeVar("T")


class Span(NamedTuple):
    """Bytes ``start`` to ``stop`` (exclusive) of one output: a ranged download."""

    ref: OutputRef
    start: int
    stop: int


Part = bytes | OutputRef | Span


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


class BodyStream:
    """``async for chunk in stream``: each part in order; closes its reader at the end or when dropped."""

    def __init__(self, reader: BlobReader, thread: ThreadPoolExecutor, parts: Sequence[Part], *,
                 encode: bool) -> None:
        self._reader, self._thread = reader, thread
        self.parts, self.encode = list(parts), encode
        self._closed = False

    @property
    def length(self) -> int:
        size = base64_length if self.encode else int
        return sum(len(p) if isinstance(p, bytes) else p.stop - p.start if isinstance(p, Span) else size(p.size)
                   for p in self.parts)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            for part in self.parts:
                if isinstance(part, bytes):
                    yield part
                elif isinstance(part, Span):
                    async for chunk in self._span(part):
                        yield chunk
                else:
                    while chunk := await _call(self._thread, self._chunk, part):
                        yield chunk
        finally:
            self.close()

    async def _span(self, span: Span) -> AsyncIterator[bytes]:
        await _call(self._thread, self._reader.seek, span.ref, span.start)
        left = span.stop - span.start
        while left > 0 and (chunk := await _call(self._thread, self._reader.read, span.ref, min(CHUNK, left))):
            left -= len(chunk)
            yield chunk

    def _chunk(self, ref: OutputRef) -> bytes:
        data = self._reader.read(ref, CHUNK)
        return pybase64.b64encode(data) if self.encode and data else data

    def close(self) -> None:
        """Without waiting: the reader closes on its thread after any read under way (a disconnect cancels
        the response's task, and a cancelled task may not wait)."""
        if not self._closed:
            self._closed = True
            self._thread.submit(self._reader.close)
            self._thread.shutdown(wait=False)


async def _call(thread: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(thread, fn, *args)


async def _open(path: str) -> tuple[BlobReader, ThreadPoolExecutor]:
    thread = ThreadPoolExecutor(1, thread_name_prefix="output-stream")
    try:
        return await _call(thread, BlobReader, path), thread
    except BaseException:
        thread.shutdown(wait=False)
        raise


async def output_stream(path: str, job_id: str, index: int,
                        span: tuple[int, int] | None = None) -> tuple[OutputRef, BodyStream] | None:
    """The raw bytes of one stored output (``span``: bytes start to stop of it), or None when the job has no
    such output."""
    reader, thread = await _open(path)
    stream = BodyStream(reader, thread, [], encode=False)
    try:
        ref = await _call(thread, reader.ref, job_id, index)
    except BaseException:
        stream.close()
        raise
    if ref is None:
        stream.close()
        return None
    stream.parts = [ref if span is None else Span(ref, *span)]
    return ref, stream


async def status_stream(path: str, info: JobInfo, queue_position: int | None = None) -> BodyStream:
    """The status body of a job, JSON, with each stored output's base64 ``data`` streamed from the store."""
    reader, thread = await _open(path)
    stream = BodyStream(reader, thread, [], encode=True)
    try:
        refs = {ref.index: ref for ref in await _call(thread, reader.refs, info.id)}
    except BaseException:
        stream.close()
        raise
    stream.parts = _split(info, refs, queue_position)
    return stream


def _split(info: JobInfo, refs: dict[int, OutputRef], queue_position: int | None) -> list[Part]:
    """The encoded body cut where each output's data goes (marked by a random token no job can contain)."""
    token = secrets.token_hex(16)
    marks = {index: f"{token}:{index}" for index in refs}
    body: StatusBody = render_status(info, data=marks.get, queue_position=queue_position)
    encoded = msgspec.json.encode(body)
    parts: list[Part] = []
    start = 0
    for match in re.finditer(rb'"' + token.encode() + rb':(\d+)"', encoded):
        parts += [encoded[start:match.start() + 1], refs[int(match.group(1))]]
        start = match.end() - 1
    parts.append(encoded[start:])
    return parts
