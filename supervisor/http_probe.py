"""One HTTP GET on asyncio streams: the supervisor's readiness probe, without an HTTP client library.

The probe is the only request the supervisor makes; an HTTP client (httpx and its dependencies) would add about
10 MB and 0.15 s to the one process that should stay small. It speaks just enough HTTP/1.1: a GET with
``Connection: close`` (and basic auth from the URL's user info), the status line read, the rest drained.
Proxy variables are not consulted: ComfyUI is reached directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from urllib.parse import unquote, urlsplit

MAX_RESPONSE = 1 << 20  # bytes of an answer read before the connection is closed anyway


def request(url: str, path: str) -> tuple[str, int, bool, bytes]:
    """(host, port, tls, request bytes) for ``GET url + path``; ValueError for a URL we cannot reach."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    lines = [f"GET {parts.path.rstrip('/')}{path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             "Accept: */*", "User-Agent: comfyui-worker-supervisor"]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        lines.append(f"Authorization: Basic {base64.b64encode(credentials).decode()}")
    return parts.hostname, port, tls, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def status_of(line: bytes) -> int | None:
    """The status code of an HTTP/1.x status line, None when it is not one."""
    fields = line.split(None, 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/1.") or not fields[1].isdigit():
        return None
    return int(fields[1])


async def get_status(url: str, path: str, timeout_s: float) -> int | None:
    """The status code ``GET url + path`` answers within ``timeout_s``; None when nothing (valid) answered."""
    try:
        host, port, tls, data = request(url, path)
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=tls or None)
            try:
                writer.write(data)
                status = status_of(await reader.readline())
                received = 0
                while status is not None and received < MAX_RESPONSE and (chunk := await reader.read(65536)):
                    received += len(chunk)  # drained, so the server is not cut off mid-answer
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError, ValueError, UnicodeError):  # ssl.SSLError is an OSError
        return None
    return status
