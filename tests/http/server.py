"""Run ``comfyui-worker http`` as a real subprocess on a free port (acceptance tests, schema fuzzing)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process, self.url = process, url
        self.lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code


def command() -> list[str]:
    script = Path(sys.executable).with_name("comfyui-worker")
    if script.exists():
        return [str(script), "http"]
    return [sys.executable, "-c", "from supervisor.cli import entry_point; entry_point()", "http"]


@contextmanager
def running_server(db_path: str, **env: str) -> Iterator[Server]:
    port = free_port()
    environ = {**os.environ, "SQLITE_DB_PATH": db_path, "API_HOST": "127.0.0.1", "API_PORT": str(port),
               "COMFY_LOG_LEVEL": "INFO", **env}
    process = subprocess.Popen(command(), env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(server.url + "/health", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(b"".join(server.lines).decode(errors="replace")) from None
                time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.stop()
