"""One webhook POST, to the addresses ``store.addresses.resolve`` checked and nowhere else.

The connection goes to a checked IP address; the ``Host`` header and TLS's server name (and certificate check)
are the URL's host. No proxy, no redirect (a 3xx is an answer like any other), no keep-alive: one connection per
attempt, closed once the status line and headers are in (the body of the answer is never read).
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import h11
import msgspec

from store.addresses import IPAddress, Target

READ_SIZE = 16 * 1024
USER_AGENT = "comfyui-worker-webhooks/1"


class SendError(Exception):
    """No answer: the connection failed, timed out, or what came back is not HTTP/1.1."""


class Answer(msgspec.Struct, frozen=True):
    status_code: int
    retry_after: str | None = None


_tls: list[ssl.SSLContext] = []


def _context() -> ssl.SSLContext:
    if not _tls:
        _tls.append(ssl.create_default_context())
    return _tls[0]


def _request(target: Target, body: bytes, headers: dict[str, str]) -> h11.Request:
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    fields = [("Host", parts.netloc), ("User-Agent", USER_AGENT), ("Content-Type", "application/json"),
              ("Content-Length", str(len(body))), ("Connection", "close"), *headers.items()]
    try:
        return h11.Request(method="POST", target=path, headers=fields)
    except h11.LocalProtocolError as exc:
        raise SendError(f"the URL cannot travel in a request: {exc}") from None


async def post(target: Target, addresses: list[IPAddress], body: bytes, headers: dict[str, str],
               timeout_s: float) -> Answer:
    """POST ``body`` to the first of ``addresses`` that accepts a connection; SendError when none answers."""
    request = _request(target, body, headers)
    tls = target.scheme == "https"
    errors: list[str] = []
    try:
        async with asyncio.timeout(timeout_s):
            for ip in addresses:
                try:
                    reader, writer = await asyncio.open_connection(
                        str(ip), target.port, ssl=_context() if tls else None,
                        server_hostname=target.host if tls else None, limit=READ_SIZE)
                except (OSError, ssl.SSLError) as exc:
                    errors.append(f"{ip}: {type(exc).__name__}: {exc}")
                    continue
                try:
                    return await _exchange(reader, writer, request, body)
                finally:
                    writer.close()
    except TimeoutError:
        raise SendError(f"no answer within {timeout_s:g} s") from None
    raise SendError("cannot connect: " + "; ".join(errors))


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: h11.Request,
                    body: bytes) -> Answer:
    conn = h11.Connection(h11.CLIENT)
    try:
        writer.write((conn.send(request) or b"") + (conn.send(h11.Data(data=body)) or b"")
                     + (conn.send(h11.EndOfMessage()) or b""))
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_SIZE))
            elif isinstance(event, h11.Response):
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
                return Answer(status_code=event.status_code, retry_after=headers.get("retry-after"))
            elif isinstance(event, h11.ConnectionClosed):
                raise SendError("the receiver closed the connection before answering")
    except (OSError, EOFError, h11.ProtocolError, ssl.SSLError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from None
