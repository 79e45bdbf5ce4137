"""What the forwarder makes of RunPod's answers: each failure of POST run decides whether the job may ever be
sent again; a hostile or broken status body fails the job (``comfyui_bad_response``), never crashes it; a job
whose POST run went out without its id reaching the store is never sent again after a restart."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from config.logging import get_logger
from executor.remote import translate as t
from executor.remote.api import MaybeSent, NotSent, Rejected, RunPodApi
from executor.remote.remote_job import RemoteJob, Runtime
from store import JobStatus, Store

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


class Answers(BaseHTTPRequestHandler):
    status = 200
    body: Any = {"id": "remote-1", "status": "IN_QUEUE"}
    drop = False
    status_body: Any = {}
    seen: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:

        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.drop:  # the request arrived; no answer ever comes
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        raw = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # GET status/{id}: the job as RunPod shows it
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        raw = json.dumps(self.status_body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Answers]]]:
    handler = type("H", (Answers,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v2", handler
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(base: str, key: str | None = "k") -> str:
    async def go() -> str:
        api = RunPodApi(base, "ep", key, timeout_s=2)
        try:
            return await api.run({"input": {}})
        finally:
            await api.close()
    return asyncio.run(go())


def test_no_connection_means_not_sent() -> None:
    with pytest.raises(NotSent):
        run(f"http://127.0.0.1:{closed_port()}/v2")


@pytest.mark.parametrize(("status", "body", "drop", "raised"), [
    (401, {"detail": "bad key"}, False, NotSent), (429, {}, False, NotSent), (404, {}, False, NotSent),
    (400, {"detail": "input.workflow: bad"}, False, Rejected),
    (500, {}, False, MaybeSent), (502, "<html>", False, MaybeSent), (200, {}, True, MaybeSent),
    (200, {"status": "IN_QUEUE"}, False, MaybeSent), (200, {"id": "../../admin"}, False, MaybeSent),
    (200, {"id": "x" * 500}, False, MaybeSent), (200, ["not", "an", "object"], False, MaybeSent),
])
def test_a_post_run_failure_says_whether_runpod_may_hold_the_job(
        server: tuple[str, type[Answers]], status: int, body: Any, drop: bool, raised: type[Exception]) -> None:
    base, handler = server
    handler.status, handler.body, handler.drop = status, body, drop
    with pytest.raises(raised):
        run(base)


def test_the_key_goes_as_runpods_bare_authorization_header(server: tuple[str, type[Answers]]) -> None:
    base, handler = server
    assert run(base, key="rp-key") == "remote-1"
    assert handler.seen == [("/v2/ep/run", "rp-key")]


@pytest.mark.parametrize("output", [
    "a string", {"images": "nope"}, {"images": [{"filename": "a.png", "type": "base64", "data": "%%%"}]},
    {"images": [{"filename": "a\r\n.png", "type": "base64", "data": "AAAA"}]},
    {"images": [{"filename": "", "type": "base64", "data": "AAAA"}]},
    {"images": [{"filename": "a.png", "type": "s3_url", "data": "javascript:alert(1)"}]},
    {"images": [{"filename": "a.png", "type": "base64", "data": 12}]}, {"images": [7]},
    {"text": [{"node_id": "1", "text": 5}]},
])
def test_a_completed_output_runpod_never_sends_is_refused(output: Any) -> None:
    with pytest.raises(t.BadAnswer):
        t.completed(output)


def test_a_completed_output_becomes_the_result_and_bytes_a_local_run_stores() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    done = t.completed({"images": [{"filename": "a.png", "type": "base64", "data": base64.b64encode(png).decode(),
                                    "node_id": "9", "content_type": "text/html; evil"}],
                        "videos": [{"filename": "v.mp4", "type": "s3_url", "data": "https://bucket/v.mp4"}],
                        "job_id": "remote-1", "surprise": {"x": 1}})
    assert done.result == {"images": [{"filename": "a.png", "type": "base64", "output_index": 0,
                                       "content_type": "image/png", "subfolder": "", "node_id": "9"}],
                           "videos": [{"filename": "v.mp4", "type": "s3_url", "data": "https://bucket/v.mp4"}]}
    assert [(o.index, o.filename, o.content_type, o.data) for o in done.outputs] == [(0, "a.png", "image/png", png)]


def test_a_failure_keeps_this_daemons_structured_error_and_wraps_anothers() -> None:
    ours = {"type": "validation", "message": "Prompt outputs failed validation", "node_errors": []}
    assert t.failure({"status": "FAILED", "error": "x", "output": {"details": ours}}) == ours
    other = t.failure({"status": "FAILED", "error": "CUDA out of memory", "output": {"details": {"type": "evil"}}})
    assert other == {"type": "execution", "message": "the job failed on RunPod: CUDA out of memory"}


def test_a_job_sent_before_a_crash_without_its_id_is_requeued_and_never_sent_again(tmp_path: Any) -> None:
    """The window between POST run and the store write: the restarted forwarder does not send it again (it
    would if it tried: a closed port is NotSent, which clears the intent)."""
    store = Store(str(tmp_path / "jobs.db"))
    job_id = store.create_job(WORKFLOW).id
    assert store.claim_remote("fw", queue_depth=0, wait_s=None) is not None
    store.mark_remote_sent(job_id, "fw")  # ... and the forwarder was killed before POST run answered

    async def resume() -> None:
        api = RunPodApi(f"http://127.0.0.1:{closed_port()}/v2", "ep", None, timeout_s=2)
        rt = Runtime(store=store, api=api, worker_id="fw", poll_s=0.05, default_timeout_s=60, log=get_logger())
        await RemoteJob(store.get_job(job_id), rt).run()
        await api.close()

    asyncio.run(resume())
    job = store.get_job(job_id)
    assert job.status is JobStatus.PENDING and job.attempts == 1
    ref = store.remote_of(job_id)
    assert ref is not None and ref.sent_at is not None and ref.remote_id is None
    assert store.claim_remote("fw", queue_depth=0, wait_s=0) is None
    store.close()


@pytest.mark.parametrize(("remote", "status", "error_type"), [
    ({"status": "FAILED", "error": "x", "output": {"details": {"type": "comfyui_unavailable", "message": "down"}}},
     JobStatus.PENDING, None),  # retried, as a local run (the error is kept only once attempts are used up)
    ({"status": "FAILED", "error": "x", "output": {"details": {"type": "execution", "message": "boom"}}},
     JobStatus.FAILED, "execution"),
    ({"status": "TIMED_OUT"}, JobStatus.FAILED, "timeout"),
    ({"status": "CANCELLED"}, JobStatus.PENDING, None),  # cancelled over there, not by us: retried
    ({"status": "COMPLETED", "output": {"images": [{"filename": "a", "type": "base64", "data": "!!"}]}},
     JobStatus.FAILED, "comfyui_bad_response"),
    ({"status": "WHATEVER"}, JobStatus.FAILED, "comfyui_bad_response"),
])
def test_runpods_end_of_a_job_ends_it_here_as_a_local_run_would(
        tmp_path: Any, server: tuple[str, type[Answers]], remote: dict[str, Any], status: JobStatus,
        error_type: str | None) -> None:
    base, handler = server
    handler.status_body = {"id": "remote-1", **remote}
    store = Store(str(tmp_path / "jobs.db"))
    job_id = store.create_job(WORKFLOW, timeout_s=30).id
    job = store.claim_remote("fw", queue_depth=0, wait_s=None)
    assert job is not None

    async def follow() -> None:
        api = RunPodApi(base, "ep", "k", timeout_s=2)
        rt = Runtime(store=store, api=api, worker_id="fw", poll_s=0.05, default_timeout_s=60, log=get_logger())
        await RemoteJob(job, rt).run()
        await api.close()

    asyncio.run(follow())
    ended = store.get_job(job_id)
    assert ended.status is status
    if error_type is not None:
        assert ended.error is not None and ended.error["type"] == error_type
    if status is JobStatus.PENDING:  # RunPod holds nothing live: the next attempt may be sent afresh
        ref = store.remote_of(job_id)
        assert ref is not None and ref.remote_id is None and ref.sent_at is None
    assert [path for path, _ in handler.seen][:2] == ["/v2/ep/run", "/v2/ep/status/remote-1"]
    store.close()


def test_a_status_body_over_the_cap_fails_the_job_without_reading_it_whole(
        tmp_path: Any, server: tuple[str, type[Answers]]) -> None:
    """A broken or hostile endpoint cannot make the forwarder hold an answer of any size in memory."""
    base, handler = server
    handler.status_body = {"id": "remote-1", "status": "COMPLETED", "output": {"images": [
        {"filename": "a.png", "type": "base64", "data": "A" * 200_000}]}}
    store = Store(str(tmp_path / "jobs.db"))
    job_id = store.create_job(WORKFLOW).id
    job = store.claim_remote("fw", queue_depth=0, wait_s=None)
    assert job is not None

    async def follow() -> None:
        api = RunPodApi(base, "ep", "k", timeout_s=2, max_answer_bytes=100_000)
        rt = Runtime(store=store, api=api, worker_id="fw", poll_s=0.05, default_timeout_s=60, log=get_logger())
        await RemoteJob(job, rt).run()
        await api.close()

    asyncio.run(follow())
    ended = store.get_job(job_id)
    assert ended.status is JobStatus.FAILED and ended.error is not None
    assert ended.error["type"] == "comfyui_bad_response" and "100000 bytes" in ended.error["message"]
    store.close()
