"""The executor's one websocket to ComfyUI (``/ws?clientId=``), reconnected whenever it drops.

The socket is a hint: it tells the executor *when* to look, history says *what* happened. After every
reconnect the executor reconciles (trace 33: frames sent during the gap are lost). After ``attempts`` failed
reconnects in a row it reports ComfyUI unavailable once, then keeps trying every ``delay_s``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection, connect

from config.logging import get_logger
from executor.protocol import Event, parse_frame


class Connected(msgspec.Struct, frozen=True):
    reconnect: bool  # True: frames may have been lost since the previous connection
    failures: int = 0  # failed attempts right before this connection (ComfyUI may have restarted meanwhile)


class Lost(msgspec.Struct, frozen=True):
    """Reconnecting failed ``attempts`` times in a row."""

    reason: str


SocketEvent = Event | Connected | Lost


class ComfySocket:
    def __init__(self, ws_url: str, on_event: Callable[[SocketEvent], None], *, attempts: int, delay_s: float,
                 trace: bool = False) -> None:
        self.ws_url = ws_url
        self.on_event = on_event
        self.attempts = attempts
        self.delay_s = delay_s
        self.trace = trace
        self.connected = asyncio.Event()
        self.ws: ClientConnection | None = None
        self.log = get_logger()

    async def run(self) -> None:
        """Connect, read, reconnect, forever (cancel the task to stop)."""
        ever_connected, failures = False, 0
        while True:
            try:
                # no permessage-deflate: ComfyUI would compress, and we inflate, every small JSON frame (CPU on
                # both sides for a few bytes saved on a local link; previews are already compressed images)
                async with connect(self.ws_url, max_size=None, open_timeout=10, ping_interval=20,
                                   ping_timeout=20, close_timeout=1, compression=None) as ws:
                    self.ws, failed, failures = ws, failures, 0
                    self.connected.set()
                    self.log.info("websocket_reconnected" if ever_connected else "websocket_connected")
                    self.on_event(Connected(reconnect=ever_connected, failures=failed))
                    ever_connected = True
                    await self._read(ws)
                reason = "closed by ComfyUI"
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            self.ws = None
            self.connected.clear()
            failures += 1
            self.log.warning("websocket_disconnected", reason=reason, failures=failures)
            if failures == self.attempts + 1:  # the first connection, then `attempts` reconnects, all failed
                self.on_event(Lost(reason=reason))
            await asyncio.sleep(self.delay_s)

    async def _read(self, ws: ClientConnection) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                if self.trace:
                    self.log.debug("websocket_frame", binary=True, length=len(frame), head=frame[:8].hex())
                continue
            event = parse_frame(frame)
            if self.trace:
                self.log.info("websocket_frame", frame=frame[:2000])
            self.on_event(event)

    async def drop(self) -> None:
        """Close the current connection (tests and shutdown); run() reconnects unless cancelled."""
        if self.ws is not None:
            await self.ws.close()
