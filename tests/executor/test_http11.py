"""The executor's HTTP/1.1 client against a scripted loopback server: keep-alive, framing, and every way an
answer can fail to arrive whole (each one an HTTPError, and the connection never reused)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from executor.http11 import Http11Client, HTTPError


class Server:
    """Answers each request with the next scripted reply; counts connections and requests."""

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = replies  # None: close the connection without answering; b"!...": answer, then close
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                reply = self.replies.pop(0)
                if reply is None:
                    break
                writer.write(reply.removeprefix(b"!"))
                await writer.drain()
                if reply.startswith(b"!"):  # answered, then closed while the client holds it idle
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@asynccontextmanager
async def serving(replies: list[bytes | None]) -> AsyncIterator[tuple[Server, Http11Client]]:
    server = Server(replies)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = Http11Client(f"http://127.0.0.1:{port}/base/", timeout_s=1.0)
    try:
        yield server, client
    finally:
        await client.close()
        listener.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"".join(extra) + \
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def test_requests_reuse_one_connection_and_carry_body_query_and_prefix() -> None:
    async with serving([ok(b'{"a":1}'), ok(b"two")]) as (server, client):
        first = await client.request("POST", "/prompt", content=b'{"x":1}',
                                     headers={"Content-Type": "application/json"})
        second = await client.request("GET", "/view", params={"filename": "a b.png", "type": "output"})
    assert (first.status_code, first.content, first.headers["content-type"]) == (200, b'{"a":1}', "application/json")
    assert second.content == b"two" and server.connections == 1
    assert server.requests[0].startswith(b"POST /base/prompt HTTP/1.1\r\n") and server.requests[0].endswith(b'{"x":1}')
    assert server.requests[1].startswith(b"GET /base/view?filename=a+b.png&type=output HTTP/1.1\r\n")


async def test_a_chunked_answer_is_read_whole() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    async with serving([chunked, ok(b"next")]) as (server, client):
        assert (await client.request("GET", "/history/x")).content == b"abcde"
        assert (await client.request("GET", "/queue")).content == b"next"
    assert server.connections == 1


async def test_connection_close_is_honoured_and_a_closed_idle_connection_is_not_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
    async with serving([closing, ok(b"a"), None, ok(b"b")]) as (server, client):
        assert (await client.request("GET", "/a")).content == b"x"
        assert (await client.request("GET", "/b")).content == b"a"  # a new connection
        with pytest.raises(HTTPError):  # closed without an answer
            await client.request("GET", "/c")
        assert (await client.request("GET", "/d")).content == b"b"
    assert server.connections == 3


async def test_a_keep_alive_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async with serving([b"!" + ok(b"a"), ok(b"b")]) as (server, client):
        assert (await client.request("GET", "/a")).content == b"a"
        await asyncio.sleep(0.1)  # the server's FIN arrives while the connection is idle
        assert (await client.request("GET", "/b")).content == b"b"  # not an error: a fresh connection
    assert server.connections == 2


async def test_garbage_a_cut_answer_and_silence_are_errors() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    async with serving([b"this is not http\r\n\r\n", cut, ok(b"fine")]) as (server, client):
        with pytest.raises(HTTPError):
            await client.request("GET", "/garbage")
        with pytest.raises(HTTPError):
            await client.request("GET", "/cut")
        assert (await client.request("GET", "/fine")).content == b"fine"
    assert server.connections == 3  # neither failed connection was used again
    async with serving([b""]) as (_, client):  # answers nothing, keeps the connection open
        with pytest.raises(HTTPError, match="within 1 s"):
            await client.request("GET", "/silent")


async def test_refused_connection_and_unsendable_names_are_errors() -> None:
    async with serving([]) as (_, client):
        port = client.port
    with pytest.raises(HTTPError):
        await Http11Client(f"http://127.0.0.1:{port}", timeout_s=1.0).request("GET", "/system_stats")
    async with serving([]) as (_, client):
        with pytest.raises(HTTPError):
            await client.request("GET", "/view\r\nX-Injected: 1")
