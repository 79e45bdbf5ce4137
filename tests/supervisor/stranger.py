"""A stranger on ComfyUI's port: a tiny loopback HTTP server that answers ``/system_stats`` like ComfyUI and
records every request it gets (nothing of a job may ever reach it)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATS = {"system": {"os": "posix", "comfyui_version": "0.3.64"}, "devices": []}


class Stranger:
    def __init__(self, port: int) -> None:
        self.requests: list[tuple[str, str]] = []
        stranger = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                stranger.requests.append((self.command, self.path))
                body = json.dumps(STATS if self.path.startswith("/system_stats") else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # SO_REUSEADDR, like ComfyUI
        self.thread = threading.Thread(target=self.server.serve_forever, name="stranger", daemon=True)

    def __enter__(self) -> Stranger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
