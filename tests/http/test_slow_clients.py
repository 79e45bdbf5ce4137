"""Slow clients cannot take the API down: real sockets on loopback against ``comfyui-worker http``.

The server runs with a bound of 50 connections and short time limits; every wait below is bounded.
"""

from __future__ import annotations

import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.conftest import WORKFLOW
from tests.http.server import Server, running_server

BOUND = 50
HEADER_TIMEOUT_S = 2.0
BODY_WINDOW_S = 1.0
MIN_RATE = 1000  # bytes/s: each 1 s window of a body must bring 1,000 bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = str(tmp_path_factory.mktemp("slow") / "jobs.db")
    with running_server(db, HTTP_MAX_CONNECTIONS=str(BOUND), HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
                        HTTP_BODY_TIMEOUT_S=str(BODY_WINDOW_S), HTTP_BODY_MIN_RATE=str(MIN_RATE)) as running:
        yield running


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


class Client:
    """A raw socket and what the server has sent on it."""

    def __init__(self, server: Server, data: bytes) -> None:
        self.sock = socket.create_connection(address(server), timeout=5)
        self.received = b""
        self.eof = False
        if data:
            self.sock.sendall(data)

    def closed_by_server(self) -> bool:
        """Read what has come without blocking; True once the server has closed the connection."""
        while not self.eof and select.select([self.sock], [], [], 0)[0]:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            self.received += chunk
            self.eof = not chunk
        return self.eof

    def answered(self) -> bool:
        self.closed_by_server()
        return self.received.endswith(b"}")

    def close(self) -> None:
        self.sock.close()


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_half_headers_are_bounded_closed_after_the_timeout_and_health_answers(server: Server) -> None:
    slow = [Client(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(200)]
    try:
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200  # room was made for it
        wait_until(lambda: all(s.closed_by_server() for s in slow), HEADER_TIMEOUT_S + 5, "header timeouts")
        # the oldest were evicted (closed without a word) as newer ones came, /health included; the
        # BOUND - 1 left beside /health were answered 408 at their header deadline
        timed_out = [s for s in slow if s.received]
        assert len(timed_out) == BOUND - 1
        assert all(s.received.startswith(b"HTTP/1.1 408 ") for s in timed_out)
        assert slow[-1] in timed_out and slow[0] not in timed_out
    finally:
        for sock in slow:
            sock.close()


def test_an_endless_header_is_cut_with_431(server: Server) -> None:
    client = Client(server, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    try:
        for _ in range(64):  # up to 4 MiB, stopping once the server has answered
            if client.closed_by_server():
                break
            try:
                client.sock.sendall(b"a" * 65536)
            except OSError:
                break
        wait_until(client.closed_by_server, 5, "the answer")
        assert client.received.startswith(b"HTTP/1.1 431 "), client.received
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
    finally:
        client.close()


def test_a_stalled_or_dripping_body_is_cut_with_408(server: Server) -> None:
    head = b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    stalled = Client(server, head + b'{"workflow": ')
    dripping = Client(server, head)
    try:
        deadline = time.monotonic() + 10 * BODY_WINDOW_S
        while not dripping.closed_by_server() and time.monotonic() < deadline:
            try:
                dripping.sock.sendall(b" " * 50)  # 250 bytes/s: well under MIN_RATE
            except OSError:
                break
            time.sleep(0.2)
        wait_until(lambda: dripping.closed_by_server() and stalled.closed_by_server(), 5, "body timeouts")
        for sock in (stalled, dripping):
            assert sock.received.startswith(b"HTTP/1.1 408 "), sock.received
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
    finally:
        stalled.close()
        dripping.close()


def test_a_fast_body_is_not_cut(server: Server) -> None:
    """A body sent in pieces faster than the minimum rate arrives whole."""
    body = httpx.Request("POST", "/", json={"workflow": WORKFLOW}).content
    head = (b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    sock = Client(server, head)
    try:
        for i in range(0, len(body), 20):
            sock.sock.sendall(body[i:i + 20])
            time.sleep(0.01)
        wait_until(lambda: sock.closed_by_server(), 5, "the answer")
        assert sock.received.startswith(b"HTTP/1.1 200 "), sock.received
    finally:
        sock.close()


def test_long_polls_are_never_evicted_as_slow_clients(server: Server) -> None:
    job_id = httpx.post(server.url + "/run", json={"workflow": WORKFLOW}, timeout=5).json()["job_id"]
    wait_s = HEADER_TIMEOUT_S + 3
    polls = [Client(server, f"GET /status/{job_id}?wait={wait_s} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
             for _ in range(BOUND - 10)]
    slow = [Client(server, b"GET /health HTTP/1.1\r\nHost: x\r\n") for _ in range(100)]
    try:
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
        wait_until(lambda: all(s.closed_by_server() for s in slow), HEADER_TIMEOUT_S + 5, "slow clients closed")
        assert not any(p.closed_by_server() for p in polls), "a long-poll was closed"
        wait_until(lambda: all(p.answered() for p in polls), wait_s + 5, "long-poll answers")
        assert all(p.received.startswith(b"HTTP/1.1 200 ") and b'"pending"' in p.received for p in polls)
    finally:
        for sock in polls + slow:
            sock.close()


def test_open_files_soft_limit_is_raised_to_the_hard_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1024:
        pytest.skip("hard RLIMIT_NOFILE too low to tell")
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))  # the child inherits a low soft limit
    try:
        context = running_server(str(tmp_path / "jobs.db"))
        server = context.__enter__()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        limits = Path(f"/proc/{server.process.pid}/limits").read_text().splitlines()
        [line] = [x for x in limits if x.startswith("Max open files")]
        assert line.split()[3:5] == [str(hard), str(hard)], line
    finally:
        context.__exit__(None, None, None)
