"""The supervisor's own readiness probe (no HTTP client library) against real loopback servers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from supervisor.http_probe import get_status, request
from tests.supervisor.harness import free_ports

Answer = Callable[[bytes], bytes]


@asynccontextmanager
async def server(answer: Answer, seen: list[bytes]) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(answer(head))
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}"


def ok(_: bytes) -> bytes:
    body = b'{"system": {}}' * 1000
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def test_200_503_and_the_request_sent() -> None:
    seen: list[bytes] = []
    async with server(ok, seen) as url:
        assert await get_status(url, "/system_stats", 2) == 200
    async with server(lambda _: b"HTTP/1.1 503 Service Unavailable\r\n\r\n", seen) as url:
        assert await get_status(url + "/", "/system_stats", 2) == 503
    first, second = (head.decode().split("\r\n") for head in seen)
    assert first[0] == second[0] == "GET /system_stats HTTP/1.1"
    assert "Connection: close" in first and any(h.startswith("Host: 127.0.0.1:") for h in first)


async def test_a_path_prefix_and_basic_auth_from_the_url() -> None:
    seen: list[bytes] = []
    async with server(ok, seen) as url:
        with_auth = url.replace("http://", "http://user:p%40ss@") + "/comfy"
        assert await get_status(with_auth, "/system_stats", 2) == 200
    lines = seen[0].decode().split("\r\n")
    assert lines[0] == "GET /comfy/system_stats HTTP/1.1"
    assert f"Authorization: Basic {base64.b64encode(b'user:p@ss').decode()}" in lines


async def test_no_server_garbage_silence_and_bad_urls_are_none() -> None:
    assert await get_status(f"http://127.0.0.1:{free_ports(1)}", "/system_stats", 2) is None
    async with server(lambda _: b"SSH-2.0-OpenSSH\r\n", []) as url:
        assert await get_status(url, "/system_stats", 2) is None
    async with server(lambda _: b"", []) as url:  # closes without a word
        assert await get_status(url, "/system_stats", 2) is None

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with srv:
        port = srv.sockets[0].getsockname()[1]
        assert await get_status(f"http://127.0.0.1:{port}", "/system_stats", 0.3) is None
    for bad in ("ftp://127.0.0.1/", "http:///x", "127.0.0.1:8188", "http://127.0.0.1:99999"):
        assert await get_status(bad, "/system_stats", 1) is None


def test_ipv6_hosts_are_bracketed_in_the_host_header() -> None:
    host, port, tls, data = request("https://[::1]:8443/base", "/system_stats")
    assert (host, port, tls) == ("::1", 8443, True)
    assert b"GET /base/system_stats HTTP/1.1\r\nHost: [::1]:8443\r\n" in data
