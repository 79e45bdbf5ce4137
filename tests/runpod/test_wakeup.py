"""The RunPod handler's wait has no polling quantum: with a 30 s safety-net poll, /runsync still answers at once.

Only the store's wake-up can bring the job to the idle executor and its end to the handler in time; the client
gives up after 20 s (a bound, not a speed check).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
CLIENT_TIMEOUT_S = 20


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServerlessDaemon]:
    webhook = Webhook()
    d = ServerlessDaemon(tmp_path, webhook, POLL_INTERVAL_S="30")
    try:
        d.start()
        d.wait_ready()
        yield d
    finally:
        d.close()
        webhook.close()


def test_runsync_through_the_handler_gets_each_job_without_waiting_for_a_poll(daemon: ServerlessDaemon) -> None:
    for color in (1, 2):  # the executor is idle before each: only a wake-up brings it the job
        response = daemon.client.post(f"{daemon.url}/runsync", json={"input": {"workflow": workflow(color)}},
                                      timeout=httpx.Timeout(CLIENT_TIMEOUT_S))
        body = response.json()
        assert response.status_code == 200 and body["status"] == "COMPLETED", body
        [image] = body["output"]["images"]
        assert base64.b64decode(image["data"]).startswith(b"\x89PNG")
