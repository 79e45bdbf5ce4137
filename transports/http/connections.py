"""Slow clients cannot hold the HTTP process: time limits on reading a request, and a bound on connections.

uvicorn's httptools protocol, with each connection in one of four phases:

- ``headers``: connected (or a keep-alive request begun) and the request headers not complete. Closed with
  ``408`` after ``HTTP_HEADER_TIMEOUT_S`` in this phase, or ``431`` past 64 KiB of request line and headers
  (the parser would otherwise buffer an endless header, costing memory and CPU).
- ``body``: headers complete, body still arriving. Every ``HTTP_BODY_TIMEOUT_S`` window must bring at least one
  byte and ``HTTP_BODY_MIN_RATE`` bytes a second on average (or the end of the body), else ``408`` and closed.
  Windows in which the app has paused reading (flow control, a pipelined request waiting) do not count.
- ``serving``: the request is complete and the app is answering (a long-poll waits here). Never limited.
- ``idle``: keep-alive between requests: closed after uvicorn's keep-alive timeout.

At most ``limit`` connections are open: a connection beyond it makes room by closing the oldest connection in
``headers``, ``body`` or ``idle``; only when every other connection is ``serving`` is the new one refused
(``503``). So a flood of slow clients costs them their oldest sockets, and ``/health`` still answers.
"""

from __future__ import annotations

import asyncio
import enum
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from config.logging import get_logger

MAX_HEADER_BYTES = 64 * 1024  # request line + headers (nginx allows 32 KiB, Apache 8 KiB a field)
_SUMMARY_EVERY_S = 10.0  # closed connections are logged as counts, at most this often (never one line each)


class Phase(enum.Enum):
    HEADERS = "headers"
    BODY = "body"
    SERVING = "serving"
    IDLE = "idle"


_EVICTABLE = {Phase.HEADERS, Phase.BODY, Phase.IDLE}


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int  # bytes a second, averaged over each body window
    max_connections: int


def _plain_response(status: bytes, text: str) -> bytes:
    body = text.encode()
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


_TIMEOUT_HEADERS = _plain_response(b"408 Request Timeout", "request headers not received in time")
_TIMEOUT_BODY = _plain_response(b"408 Request Timeout", "request body too slow")
_TOO_LARGE = _plain_response(b"431 Request Header Fields Too Large", "request headers over 64 KiB")
_TOO_MANY = _plain_response(b"503 Service Unavailable", "too many connections")


class ConnectionGuard:
    """One per server: the limits, the connections that may be evicted (oldest first), and the counts."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: set[GuardedProtocol] = set()  # not yet closed by us or by the client
        self.evictable: OrderedDict[GuardedProtocol, None] = OrderedDict()  # oldest phase start first
        self.closed: Counter[str] = Counter()
        self._summary: asyncio.TimerHandle | None = None
        self.log = get_logger().bind()

    def protocol_class(self) -> type[GuardedProtocol]:
        """The class to pass as ``uvicorn.Config(http=...)``: a GuardedProtocol bound to this guard."""
        return type("BoundGuardedProtocol", (GuardedProtocol,), {"guard": self})

    def enter(self, conn: GuardedProtocol, phase: Phase) -> None:
        self.evictable.pop(conn, None)
        if phase in _EVICTABLE and conn in self.open:
            self.evictable[conn] = None

    def leave(self, conn: GuardedProtocol) -> None:
        self.open.discard(conn)
        self.evictable.pop(conn, None)

    def admit(self, newcomer: GuardedProtocol) -> bool:
        """Count ``newcomer`` in, closing the oldest evictable connections to make room; False if none can go."""
        self.open.add(newcomer)
        self.enter(newcomer, newcomer.phase)
        while len(self.open) > self.limits.max_connections:
            victim = next((conn for conn in self.evictable if conn is not newcomer), None)
            if victim is None:
                return False
            victim.drop("evicted")
        return True

    def count(self, reason: str, loop: asyncio.AbstractEventLoop) -> None:
        self.closed[reason] += 1
        if self._summary is None:
            self._summary = loop.call_later(_SUMMARY_EVERY_S, self._log_summary)

    def _log_summary(self) -> None:
        self._summary = None
        counts, self.closed = dict(self.closed), Counter()
        self.log.warning("http_slow_connections_closed", closed=counts, window_s=_SUMMARY_EVERY_S,
                         max_connections=self.limits.max_connections)


class GuardedProtocol(HttpToolsProtocol):
    guard: ConnectionGuard  # set on the class by ConnectionGuard.protocol_class

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.phase = Phase.HEADERS
        self.timer: asyncio.TimerHandle | None = None
        self.window_bytes = 0  # body bytes received in the current body window
        self.header_bytes = 0  # bytes received in the current headers phase

    # --- phases ------------------------------------------------------------------------------------------
    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.guard.enter(self, phase)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        limits = self.guard.limits
        if phase is Phase.HEADERS:
            self.header_bytes = 0
            self.timer = self.loop.call_later(limits.header_timeout_s, self._headers_timed_out)
        elif phase is Phase.BODY:
            self.window_bytes = 0
            self.timer = self.loop.call_later(limits.body_timeout_s, self._body_window_ended)
        elif phase is Phase.IDLE:
            self.timer = self.loop.call_later(self.timeout_keep_alive, self.drop, "idle")

    def _after_response(self) -> None:
        """The phase once a response is complete: a pipelined request may have started in its place."""
        if self.cycle is not None and self.cycle.more_body:
            self._enter(Phase.BODY)  # a pipelined request whose body is still arriving
        elif self.cycle is not None and not self.cycle.response_complete:
            self._enter(Phase.SERVING)
        else:
            self._enter(Phase.IDLE)

    def _headers_timed_out(self) -> None:
        self.timer = None
        if self.phase is Phase.HEADERS:
            self.drop("header_timeout", _TIMEOUT_HEADERS)

    def _body_window_ended(self) -> None:
        self.timer = None
        if self.phase is not Phase.BODY:
            return
        limits = self.guard.limits
        paused = self.flow is not None and self.flow.read_paused
        wanted = max(1, int(limits.body_min_rate * limits.body_timeout_s))
        if not paused and self.window_bytes < wanted:
            answered = self.cycle is not None and self.cycle.response_started
            self.drop("body_timeout", None if answered else _TIMEOUT_BODY)
            return
        self.window_bytes = 0
        self.timer = self.loop.call_later(limits.body_timeout_s, self._body_window_ended)

    def drop(self, reason: str, response: bytes | None = None) -> None:
        """Close this connection (a timeout or an eviction), answering ``response`` first when given."""
        self.guard.leave(self)
        if self.transport is None or self.transport.is_closing():
            return
        if response is not None:
            self.transport.write(response)
        self.transport.close()
        if reason != "idle":  # keep-alive expiry is ordinary
            self.guard.count(reason, self.loop)

    # --- uvicorn's callbacks -----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter(Phase.HEADERS)
        if not self.guard.admit(self):
            self.drop("refused", _TOO_MANY)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.leave(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.phase is Phase.HEADERS:
            self.header_bytes += len(data)
        super().data_received(data)
        if self.phase is Phase.HEADERS and self.header_bytes > MAX_HEADER_BYTES:
            self.drop("header_too_large", _TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.phase is Phase.IDLE:  # a keep-alive request begins: its headers get their own deadline
            self._enter(Phase.HEADERS)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.phase is Phase.HEADERS:
            self._enter(Phase.BODY)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.window_bytes += len(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.phase is Phase.BODY:
            self._enter(Phase.IDLE if self.cycle.response_complete else Phase.SERVING)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.phase is Phase.SERVING and not self.transport.is_closing():
            self._after_response()


def effective_limit(wanted: int, open_files: int, reserve: int = 128) -> int:
    """``HTTP_MAX_CONNECTIONS``, lowered to fit the process's file descriptors (less a reserve for the store,
    logs and the listening socket), so the bound is reached before descriptors run out."""
    return max(1, min(wanted, open_files - reserve))

