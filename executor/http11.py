"""A small HTTP/1.1 client for one ComfyUI: keep-alive connections over asyncio streams, messages framed by h11.

The executor's requests are few and simple (JSON in, JSON or a file out, one server), and httpx spent ~0.8 ms
of CPU on each of them (its models, anyio and the connection pool; measured with ``bench/cpu.py``); this client
spends ~0.15 ms. h11 (httpx's own parser) does the framing: Content-Length and chunked bodies, keep-alive and
``Connection: close``. No proxy, no redirect, no compression: ComfyUI is reached directly.

Every failure to get a whole answer (refused, reset, closed early, timed out, not HTTP) is :class:`HTTPError`;
a connection that failed is never reused.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence

import h11
import msgspec

READ_SIZE = 256 * 1024
_COPY_UP_TO = 64 * 1024  # body parts up to this size join the request's head in one write
MAX_IDLE = 8  # idle keep-alive connections kept


class HTTPError(Exception):
    """No whole answer: the connection failed, timed out or carried something that is not HTTP/1.1."""


class Response(msgspec.Struct, frozen=True):
    status_code: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    @property
    def reusable(self) -> bool:
        """Idle, and not closed by the server meanwhile (its FIN shows as EOF once the loop has read it)."""
        return (self.h11.our_state is h11.IDLE and not self.reader.at_eof()
                and not self.writer.transport.is_closing())

    async def exchange(self, request: h11.Request, body: Sequence[bytes]) -> Response:
        conn = self.h11
        data = conn.send(request) or b""
        for part in body:
            if len(part) > _COPY_UP_TO:  # a file: written as it is (h11 frames it without a copy)
                self.writer.write(data)
                self.writer.write(conn.send(h11.Data(data=part)) or b"")
                data = b""
            elif part:
                data += conn.send(h11.Data(data=part)) or b""
        self.writer.write(data + (conn.send(h11.EndOfMessage()) or b""))  # small: one write, one segment
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.reader.read(READ_SIZE))  # b"" (EOF) makes h11 raise or end
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise HTTPError("the server closed the connection before a whole answer")
        assert response is not None
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers}
        return Response(status_code=response.status_code, headers=headers, content=b"".join(chunks))

    def close(self) -> None:
        self.writer.close()


class Http11Client:
    """Requests to one base URL (``http://host:port[/prefix]`` or ``https://``), each within ``timeout_s``."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.tls else 80)
        self.host_header = url.netloc.rsplit("@", 1)[-1]
        self.prefix = url.path.rstrip("/")
        self.timeout_s = timeout_s
        self.idle: list[_Connection] = []
        self._ssl: ssl.SSLContext | None = None

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      content: bytes | Sequence[bytes] = b"", headers: Mapping[str, str] | None = None) -> Response:
        """``content``: the body, or its parts in order (sent without joining them)."""
        parts = [content] if isinstance(content, bytes) else list(content)
        length = sum(len(part) for part in parts)
        target = self.prefix + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        fields = [("Host", self.host_header), ("Accept", "*/*"), *(headers or {}).items()]
        if length or method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", str(length)))
        try:
            request = h11.Request(method=method, target=target, headers=fields)
        except h11.LocalProtocolError as exc:  # a name that cannot travel in a request line or header
            raise HTTPError(f"cannot send {method} {target!r}: {exc}") from None
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                conn = self._idle_connection() or await self._connect()
                response = await conn.exchange(request, parts)
        except TimeoutError:
            raise HTTPError(f"no whole answer within {self.timeout_s:g} s") from None
        except (OSError, EOFError, h11.ProtocolError) as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}") from None
        finally:  # a failed or cancelled exchange leaves the connection in an unknown state: never reused
            if conn is not None and not (conn.h11.our_state is h11.IDLE and conn.h11.their_state is h11.IDLE):
                conn.close()
                conn = None
        if conn is not None:
            self._release(conn)
        return response

    def _idle_connection(self) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()  # verifies the server, as httpx did
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl if self.tls else None, limit=READ_SIZE,
            server_hostname=self.host if self.tls else None)
        return _Connection(reader, writer)

    def _release(self, conn: _Connection) -> None:
        if len(self.idle) < MAX_IDLE:
            self.idle.append(conn)
        else:
            conn.close()

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
