"""A loopback stand-in for RunPod's worker endpoints, as runpod 1.12 calls them: job-take (single and batch),
job-done (results and progress), job-stop (long-polled stop signals) and ping."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakePlatform:
    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []  # jobs waiting to be taken
        self.stop: list[str] = []  # ids the next job-stop poll returns
        self.batch_sizes: list[int] = []  # batch_size of each job-take-batch call
        self.done: list[tuple[str, dict[str, Any]]] = []  # (job id, body) of every job-done POST
        self.lock = threading.Lock()
        platform = self

        class Routes(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                platform.get(self)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                job_id = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                platform.done.append((job_id, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Routes)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{self.server.server_port}"
        self.env = {
            "RUNPOD_WEBHOOK_GET_JOB": f"{base}/job-take/$ID?gpu=test",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=test",
            "RUNPOD_WEBHOOK_PING": f"{base}/ping/$RUNPOD_POD_ID", "RUNPOD_POD_ID": "pod-1",
            "RUNPOD_SKIP_GPU_CHECK": "true", "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
        }

    def get(self, request: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(request.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path.startswith("/job-stop/"):
            with self.lock:
                ids, self.stop[:] = list(self.stop), []
            if not ids:
                time.sleep(0.2)  # a short long-poll
            return self._answer(request, {"jobsToStop": ids} if ids else None)
        if url.path.startswith("/job-take"):
            batch = url.path.startswith("/job-take-batch/")
            size = int(query.get("batch_size", ["1"])[0])
            with self.lock:
                if batch:
                    self.batch_sizes.append(size)
                taken, self.queue[:] = self.queue[:size], self.queue[size:]
            if not taken:
                time.sleep(0.1)
            return self._answer(request, (taken if batch else taken[0]) if taken else None)
        self._answer(request, None)  # ping

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, body: Any) -> None:
        if body is None:
            request.send_response(204)
            request.end_headers()
            return
        data = json.dumps(body).encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def results(self, job_id: str) -> list[dict[str, Any]]:
        """job-done bodies of one job that are its result (not progress)."""
        return [body for rp_id, body in self.done if rp_id == job_id and body.get("status") != "IN_PROGRESS"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
