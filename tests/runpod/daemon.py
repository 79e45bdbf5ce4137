"""``comfyui-worker run`` in serverless mode (HTTP_API_MODE=false) with the SDK's local API, and a loopback
server standing in for RunPod's job-done webhook, where ``progress_update`` POSTs."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.supervisor.harness import RunningDaemon


class Webhook:
    """Records every POST as (path, decoded JSON body); the SDK sends JSON as form-urlencoded data."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        posts = self.posts

        class Record(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # the SDK's JOB_DONE_URL template: $ID becomes the RunPod job id, "&isStream=false" is appended
        self.url = f"http://127.0.0.1:{self.server.server_port}/job-done/$ID?gpu=test"

    def progress(self, rp_id: str) -> list[Any]:
        path = f"/job-done/{rp_id}"
        return [body["output"] for url, body in self.posts
                if urllib.parse.urlsplit(url).path == path and body.get("status") == "IN_PROGRESS"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ServerlessDaemon(RunningDaemon):
    """The SDK's local API on API_PORT: POST /runsync, POST /run + POST /status/{id}."""

    def __init__(self, tmp: Path, webhook: Webhook, **env: str) -> None:
        super().__init__(tmp, 1, HTTP_API_MODE="false", SERVE_API_LOCALLY="true",
                         RUNPOD_WEBHOOK_POST_OUTPUT=webhook.url, **env)
        self.client = httpx.Client(timeout=60)

    def wait_ready(self, timeout: float = 30.0, instances: Any = (0,)) -> None:
        wanted = {"comfyui-0", "executor-0", "runpod"}
        self.wait_for(lambda: self._serving() and all(
            self.components().get(name, {}).get("state") == "running" for name in wanted), timeout, "ready")

    def _serving(self) -> bool:
        try:
            return self.client.get(f"{self.url}/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.client.post(f"{self.url}{path}", json=body)
