"""The Python client (sync and async) against a running daemon, and its edges on a mock transport."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.ship.conftest import Daemon
from tests.supervisor.harness import workflow
from transports.client import ApiError, AsyncClient, Client, Progress, Status, WaitTimeout
from transports.client.progress import TerminalBar, describe, reporter


def test_submit_wait_download_with_progress_callback(daemon: Daemon, tmp_path: Path) -> None:
    seen: list[Status] = []
    with Client(daemon.url) as client:
        job_id = client.submit(workflow(21))
        status = client.wait(job_id, on_progress=seen.append, poll_s=0.02)
        paths = client.download(status, tmp_path)
    assert status.status == "completed" and seen[-1] == status
    assert len(seen) == len({(s.status, s.queue_position, s.progress) for s in seen})  # only changes
    assert [p.read_bytes()[:4] for p in paths] == [b"\x89PNG"]


def test_outputs_inline_as_base64_are_decoded(daemon: Daemon, tmp_path: Path) -> None:
    with Client(daemon.url) as client:
        job_id = client.submit(workflow(22))
        client.wait(job_id, poll_s=0.02)
        status = client.status(job_id, with_data=True)
        [out] = status.outputs()
        assert out.data is not None and out.index is not None
        assert client.fetch(job_id, out) == client.output(job_id, out.index)


async def test_async_client_does_the_same(daemon: Daemon, tmp_path: Path) -> None:
    async with AsyncClient(daemon.url) as client:
        job_id = await client.submit(workflow(23))
        status = await client.wait(job_id, poll_s=0.02)
        paths = await client.download(status, tmp_path)
        with pytest.raises(ApiError) as info:
            await client.status("no-such-job")
    assert status.status == "completed" and len(paths) == 1
    assert info.value.status_code == 404


def test_cancel_of_a_pending_job_ends_it(fake_delay: Daemon) -> None:
    fake_delay.fake(delay_ms=2000)
    with Client(fake_delay.url) as client:
        running = [client.submit(workflow(c)) for c in range(30, 33)]
        job_id = client.submit(workflow(34))
        assert client.cancel(job_id).status == "cancelled"
        assert client.wait(job_id).status == "cancelled"
        with pytest.raises(WaitTimeout):
            client.wait(running[-1], timeout=0.1, poll_s=0.02)
    fake_delay.wait_jobs(running, {"completed"}, 30)


def test_api_key_goes_to_the_api_but_not_to_s3() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        if request.url.host == "s3.example":
            return httpx.Response(200, content=b"bytes")
        return httpx.Response(200, json={"job_id": "j1", "status": "completed", "result": {
            "images": [{"filename": "a.png", "type": "s3_url", "data": "https://s3.example/a.png"}]}})

    with Client("http://api.example", api_key="k", transport=httpx.MockTransport(handler)) as client:
        status = client.status("j1")
        assert client.fetch("j1", status.outputs()[0]) == b"bytes"
    assert seen == {"api.example": "Bearer k", "s3.example": None}


def test_an_output_too_large_to_inline_is_fetched_from_the_api_with_the_key() -> None:
    """``type: url`` (INLINE_OUTPUT_MAX_MB): its relative URL is the API's download route."""
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        if request.url.path == "/jobs/j1/outputs/0":
            return httpx.Response(200, content=b"big")
        return httpx.Response(200, json={"job_id": "j1", "status": "completed", "result": {"images": [
            {"filename": "v.bin", "type": "url", "data": "/jobs/j1/outputs/0", "url": "/jobs/j1/outputs/0",
             "output_index": 0}]}})

    with Client("http://api.example", api_key="k", transport=httpx.MockTransport(handler)) as client:
        status = client.status("j1")
        assert client.fetch("j1", status.outputs()[0]) == b"big"
    assert seen[-1] == ("http://api.example/jobs/j1/outputs/0", "Bearer k")


def test_api_errors_carry_the_detail() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(403, json={"detail": "invalid API key"}))
    with Client("http://api.example", transport=transport) as client, pytest.raises(ApiError) as info:
        client.submit(workflow(1))
    assert (info.value.status_code, info.value.detail) == (403, "invalid API key")


def test_images_are_sent_base64_by_file_name(tmp_path: Path) -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return httpx.Response(200, json={"job_id": "j", "status": "pending"})

    (tmp_path / "in.png").write_bytes(b"\x89PNG...")
    with Client("http://api.example", transport=httpx.MockTransport(handler)) as client:
        client.submit(workflow(1), images=[tmp_path / "in.png"], priority=3)
    body = httpx.Response(200, content=bodies[0]).json()
    assert body["images"] == [{"name": "in.png", "image": base64.b64encode(b"\x89PNG...").decode()}]
    assert body["priority"] == 3


def test_a_terminal_gets_a_bar_with_node_and_steps() -> None:
    running = Status(job_id="abcdef123", status="running",
                     progress=Progress(value=5, max=10, node="3", node_type="KSampler"))
    assert describe(running, 10) == "running  node 3 KSampler  [#####-----] 5/10"
    pending = Status(job_id="abcdef123", status="pending", queue_position=2)
    assert describe(pending, 10) == "pending  #2 in queue"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = reporter(stream)
    assert isinstance(bar, TerminalBar)
    bar.update(pending)
    assert "\r" in stream.getvalue() and "#2 in queue" in stream.getvalue()
    assert not isinstance(reporter(io.StringIO()), TerminalBar)


def test_the_client_imports_no_server_framework() -> None:
    code = ("import sys, transports.client as c; c.Client; c.AsyncClient; "
            "print(sorted(set(sys.modules) & {'litestar', 'uvicorn', 'runpod', 'apsw', 'boto3'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
