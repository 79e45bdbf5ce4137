"""A webhook receiver on loopback for tests: records every request, answers from a script (then 200)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec


class Received(msgspec.Struct, frozen=True):
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered


class Receiver:
    def __init__(self, script: list[int | tuple[int, dict[str, str]]] | None = None, default: int = 200) -> None:
        self.script = list(script or [])
        self.default = default
        self.received: list[Received] = []
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else receiver.default
                status, headers = step if isinstance(step, tuple) else (step, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.lock:
                    receiver.received.append(Received(path=self.path, body=body, status=status,
                                                      headers={k.lower(): v for k, v in self.headers.items()}))
                    receiver.lock.notify_all()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, check: Callable[[list[Received]], bool], timeout_s: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not check(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met in {timeout_s} s; got {len(self.received)}")
                self.lock.wait(left)
            return list(self.received)

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
