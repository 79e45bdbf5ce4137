"""Fixed cost per request (issue 11): a request without images never leaves the event loop's thread, and a
successful read (a /status poll) writes no log line at INFO.

Litestar runs plain-function guards (origin, API key, JSON) in a thread pool, a hop per guard per request; they
run on the loop instead, so serving jobs and polls starts no thread at all.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from litestar.utils.sync import AsyncCallable

from config.settings import load
from tests.http.conftest import WORKFLOW
from tests.http.server import running_server
from transports.http.app import create_app


def python_threads(pid: int) -> int:
    """Threads of ``pid`` that run Python (uvloop's own resolver threads are named libuv-worker)."""
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/comm") as f:
            names.append(f.read().strip())
    return sum(1 for name in names if not name.startswith("libuv"))


def test_no_guard_is_run_in_a_worker_thread(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLITE_DB_PATH", db_path)
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example")
    app = create_app(load())
    handlers = [handler for route in app.routes for handler in getattr(route, "route_handlers", [])]
    assert handlers
    for handler in handlers:
        guards = handler.resolve_guards()
        assert guards and not any(isinstance(guard, AsyncCallable) for guard in guards), handler


def test_serving_jobs_and_polls_starts_no_thread(db_path: str) -> None:
    with running_server(db_path, API_KEY="k3y") as server, \
            httpx.Client(base_url=server.url, headers={"Authorization": "Bearer k3y"}) as http:
        ids = [http.post("/run", json={"workflow": WORKFLOW}).json()["job_id"] for _ in range(10)]
        for job_id in ids:
            assert http.get(f"/status/{job_id}").json()["status"] == "pending"
        assert http.post(f"/cancel/{ids[0]}").status_code == 200
        assert http.get("/health").status_code in (200, 503)
        assert http.post("/run", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
        assert http.post("/run", json={"workflow": WORKFLOW}, headers={"Authorization": "Bearer no"}
                         ).status_code == 401
        assert python_threads(server.process.pid) == 1


def access_lines(lines: list[bytes]) -> set[tuple[str, str, str, int]]:
    records = [json.loads(line) for line in lines]
    return {(r["level"], r["method"], r["path"], r["status"]) for r in records if r["event"] == "http_request"}


def test_polls_are_logged_at_debug_changes_and_errors_at_info(db_path: str) -> None:
    for level in ("INFO", "DEBUG"):
        with running_server(db_path, COMFY_LOG_LEVEL=level) as server, httpx.Client(base_url=server.url) as http:
            job_id = http.post("/run", json={"workflow": WORKFLOW}).json()["job_id"]
            assert http.get(f"/status/{job_id}").status_code == 200
            assert http.get("/status/nope").status_code == 404
            assert http.post("/run", content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
            assert server.stop() == 0
        logged = access_lines(server.lines)
        assert logged >= {("info", "POST", "/run", 200), ("info", "GET", "/status/nope", 404),
                          ("info", "POST", "/run", 415)}, level
        poll = ("debug", "GET", f"/status/{job_id}", 200)
        assert (poll in logged) is (level == "DEBUG")
        assert not any(line[0] == "info" and line[1] == "GET" and line[3] < 400 for line in logged)
