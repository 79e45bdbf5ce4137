"""``comfyui-worker run`` as a RunPod worker, for real: the SDK's local API in front, fake ComfyUI behind."""

from __future__ import annotations

import base64
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def started(tmp: Path, webhook: Webhook) -> Iterator[ServerlessDaemon]:
    d = ServerlessDaemon(tmp, webhook, FAKE_COMFYUI_DELAY_MS="1500", FAKE_COMFYUI_PROGRESS_STEPS="10")
    d.start()
    d.wait_ready()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object, the SDK's and uvicorn's included"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, webhook: Webhook) -> Iterator[ServerlessDaemon]:
    """Shared by the tests that only send requests."""
    yield from started(tmp_path_factory.mktemp("serverless"), webhook)


@pytest.fixture
def own_daemon(tmp_path: Path, webhook: Webhook) -> Iterator[ServerlessDaemon]:
    yield from started(tmp_path, webhook)


def test_runsync_returns_images_and_progress_reaches_the_webhook(daemon: ServerlessDaemon,
                                                                 webhook: Webhook) -> None:
    response = daemon.post("/runsync", {"input": {"workflow": workflow(7)}})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "COMPLETED", body
    [image] = body["output"]["images"]
    assert image["type"] == "base64" and base64.b64decode(image["data"]).startswith(b"\x89PNG")
    assert str(daemon.jobs()[body["output"]["job_id"]].status) == "completed"
    # progress_update POSTs from a thread of its own: the last ones may land after the response
    daemon.wait_for(lambda: any(u.get("status") == "running" and u.get("percent")
                                for u in webhook.progress(body["id"])), 5, "a progress update")
    # the handler's log lines reach us through the supervisor's relay, maybe after the response
    daemon.wait_for(lambda: {"runpod_job_submitted", "runpod_job_finished"}
                    <= {r.get("event") for r in daemon.records()}, 5, "the handler's job log lines")


def test_failures_come_back_failed_with_the_message(daemon: ServerlessDaemon) -> None:
    bad_node = workflow(8)
    del bad_node["1"]["inputs"]["width"]
    validation = daemon.post("/runsync", {"input": {"workflow": bad_node}}).json()
    assert validation["status"] == "FAILED"
    assert validation["error"] == ("Prompt outputs failed validation: node 1 (EmptyImage): "
                                   "Required input is missing: width")
    invalid = daemon.post("/runsync", {"input": {"workflow": workflow(9), "images": [
        {"name": "../x.png", "image": "AAAA"}]}}).json()
    assert invalid["status"] == "FAILED" and "plain file name" in invalid["error"]


def test_run_only_stores_and_post_status_runs_it(daemon: ServerlessDaemon) -> None:
    """The SDK's local API quirk: /run just files the request; POST /status/{id} runs the handler."""
    jobs = len(daemon.jobs())
    queued = daemon.post("/run", {"input": {"workflow": workflow(10)}}).json()
    assert queued["status"] == "IN_PROGRESS" and len(daemon.jobs()) == jobs
    assert daemon.client.get(f"{daemon.url}/status/{queued['id']}").status_code == 405
    done = daemon.post(f"/status/{queued['id']}").json()
    assert done["status"] == "COMPLETED" and done["output"]["images"]


def test_local_api_refuses_input_as_json_text(daemon: ServerlessDaemon) -> None:
    """Another quirk: the local API types ``input`` as an object (the handler itself takes text too)."""
    response = daemon.post("/runsync", {"input": json.dumps({"workflow": workflow(11)})})
    assert response.status_code == 422


def test_sigterm_stops_the_serverless_daemon_with_0(own_daemon: ServerlessDaemon) -> None:
    own_daemon.signal(signal.SIGTERM)
    assert own_daemon.wait_exit(30) == 0
    assert own_daemon.leftovers() == []
