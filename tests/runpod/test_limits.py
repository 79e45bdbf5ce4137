"""RunPod mode shares the door's checks: a refused job fails at once with the message, and no job is written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store import Store
from tests.executor.conftest import save_workflow
from tests.image_bytes import png
from tests.runpod.conftest import b64
from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import workflow


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _prefixed(prefix: str) -> dict[str, Any]:
    flow = save_workflow()
    flow["2"]["inputs"]["filename_prefix"] = prefix
    return flow


@pytest.mark.parametrize(("job_input", "words"), [
    ({"workflow": save_workflow(), "images": [{"name": "big.png", "image": b64(png(10_000, 10_000))}]},
     ("'big.png'", "10000x10000", "MAX_IMAGE_PIXELS")),
    ({"workflow": save_workflow(), "images": [{"name": ".", "image": b64(png(8, 8))}]}, ("image name '.'",)),
    ({"workflow": _prefixed("a\r\nb")}, ("node '2'", "'filename_prefix'", "control")),
    ({"workflow": {"1": {"class_type": "X", "inputs": {"deep": _deep(700)}}}}, ("MAX_WORKFLOW_DEPTH",)),
    ({"workflow": {str(i): {"class_type": "X", "inputs": {}} for i in range(5001)}}, ("MAX_WORKFLOW_NODES",)),
])
async def test_a_refused_job_fails_with_the_message(store: Store, handler_factory, job_input: dict[str, Any],
                                                    words: tuple[str, ...]) -> None:
    output = await handler_factory()({"id": "rp-limit", "input": job_input})
    for word in words:
        assert word in output["error"], output
    assert output["details"]["type"] == "invalid_input" and output["details"]["message"] == output["error"]
    assert store.stats()["total"] == 0


async def test_the_limits_come_from_the_settings(store: Store, handler_factory) -> None:
    handler = handler_factory(max_image_pixels=63)
    job_input = {"workflow": save_workflow(), "images": [{"name": "a.png", "image": b64(png(8, 8))}]}
    output = await handler({"id": "rp-limit", "input": job_input})
    assert "64 pixels" in output["error"] and "63" in output["error"]


@pytest.fixture
def serverless(tmp_path: Path) -> Iterator[ServerlessDaemon]:
    hook = Webhook()
    daemon = ServerlessDaemon(tmp_path, hook)
    daemon.start()
    daemon.wait_ready()
    yield daemon
    daemon.close()
    hook.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
def test_the_serverless_daemon_fails_refused_jobs_with_the_message(serverless: ServerlessDaemon) -> None:
    """Through the SDK's local API: FAILED with our message; no job reaches the store (nor ComfyUI)."""
    big = {"input": {"workflow": workflow(1), "images": [{"name": "big.png", "image": b64(png(10_000, 10_000))}]}}
    answer = serverless.post("/runsync", big).json()
    assert answer["status"] == "FAILED" and "MAX_IMAGE_PIXELS" in answer["error"], answer
    deep = {"input": {"workflow": {"1": {"class_type": "X", "inputs": {"deep": _deep(700)}}}}}
    answer = serverless.post("/runsync", deep).json()
    assert answer["status"] == "FAILED" and "MAX_WORKFLOW_DEPTH" in answer["error"], answer
    assert serverless.jobs() == {}
