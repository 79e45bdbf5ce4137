"""The runpod SDK's own client (``runpod.Endpoint``) against a real ``comfyui-worker run`` (fake ComfyUI).

``RUNPOD_ENDPOINT_BASE_URL`` is read once, when ``runpod`` is imported: the test points the SDK's module variable
(what ``RunPodClient`` reads) at the daemon's ``/v2`` on loopback, as that variable would."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests

from tests.supervisor.harness import RunningDaemon, workflow

runpod = pytest.importorskip("runpod")
from runpod.endpoint.runner import Job  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

ENDPOINT = "selfhosted"
USER, ADMIN = "user-key", "admin-key"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path_factory.mktemp("v2"), API_KEY=USER, ADMIN_API_KEY=ADMIN, V2_ENDPOINT_ID=ENDPOINT)
    try:
        d.start().wait_ready()
        yield d
    finally:
        d.close()


@pytest.fixture
def endpoint(daemon: RunningDaemon, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runpod, "endpoint_url_base", f"{daemon.url}/v2")
    fake_delay(daemon, 0)
    return runpod.Endpoint(ENDPOINT, api_key=USER)


def fake_delay(daemon: RunningDaemon, ms: float) -> None:
    """How long the fake ComfyUI takes per prompt (a test-only knob of the fake)."""
    url = f"http://127.0.0.1:{daemon.comfyui_port}/_fake/config"
    assert httpx.post(url, json={"delay_ms": ms}, timeout=5).status_code == 200


def wait_status(job: Any, wanted: set[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while (status := job.status()) not in wanted:
        assert time.monotonic() < deadline, f"still {status}, wanted {wanted}"
        time.sleep(0.1)
    return str(status)


def assert_png_output(output: dict[str, Any]) -> None:
    [image] = output["images"]
    assert image["type"] == "base64" and image["filename"].endswith(".png")
    assert base64.b64decode(image["data"]).startswith(PNG_MAGIC)


def test_run_sync_returns_worker_comfyui_output_and_the_job_is_on_the_seed_routes(endpoint: Any,
                                                                                   daemon: RunningDaemon) -> None:
    output = endpoint.run_sync({"workflow": workflow(11)}, timeout=60)
    assert_png_output(output)
    seed = daemon.client.get(f"{daemon.url}/status/{output['job_id']}",
                             headers={"Authorization": f"Bearer {USER}"}).json()
    assert seed["status"] == "completed"
    assert seed["result"]["images"][0]["data"] == output["images"][0]["data"]


def test_run_then_status_and_output(endpoint: Any) -> None:
    job = endpoint.run({"workflow": workflow(12)})
    assert job.status() in {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    assert_png_output(job.output(timeout=60))
    assert job.status() == "COMPLETED"


def test_a_job_from_the_seed_run_is_followed_by_the_sdk(endpoint: Any, daemon: RunningDaemon) -> None:
    response = daemon.client.post(f"{daemon.url}/run", json={"workflow": workflow(13)},
                                  headers={"Authorization": f"Bearer {USER}"})
    job = Job(ENDPOINT, response.json()["job_id"], endpoint.rp_client)
    assert_png_output(job.output(timeout=60))


def test_cancel_of_a_running_job_ends_it_cancelled(endpoint: Any, daemon: RunningDaemon) -> None:
    fake_delay(daemon, 20_000)
    job = endpoint.run({"workflow": workflow(14)})
    wait_status(job, {"IN_PROGRESS"})
    assert job.cancel()["id"] == job.job_id
    assert wait_status(job, {"CANCELLED", "COMPLETED", "FAILED"}) == "CANCELLED"


def test_execution_timeout_makes_a_timed_out_job(endpoint: Any, daemon: RunningDaemon) -> None:
    fake_delay(daemon, 20_000)
    job = endpoint.run({"input": {"workflow": workflow(15)}, "policy": {"executionTimeout": 1000}})
    assert wait_status(job, {"TIMED_OUT", "COMPLETED", "FAILED", "CANCELLED"}) == "TIMED_OUT"


def test_stream_yields_progress_and_ends_with_the_job(endpoint: Any, daemon: RunningDaemon) -> None:
    fake_delay(daemon, 2500)
    job = endpoint.run({"workflow": workflow(16)})
    chunks = list(job.stream())
    assert chunks and {chunk["status"] for chunk in chunks} <= {"pending", "running"}
    assert job.status() == "COMPLETED"


def test_health_and_purge_queue(endpoint: Any, daemon: RunningDaemon) -> None:
    fake_delay(daemon, 20_000)
    jobs = [endpoint.run({"workflow": workflow(20 + i)}) for i in range(4)]
    wait_status(jobs[0], {"IN_PROGRESS"})
    health = endpoint.health()
    assert health["workers"] == {"idle": 0, "running": 1}
    assert health["jobs"]["inQueue"] + health["jobs"]["inProgress"] >= 4
    with pytest.raises(requests.HTTPError) as refused:  # purging is for the admin key
        endpoint.purge_queue()
    assert refused.value.response.status_code == 403
    purged = runpod.Endpoint(ENDPOINT, api_key=ADMIN).purge_queue()
    assert purged["status"] == "completed" and purged["removed"] >= 1
    statuses = [job.status() for job in jobs]
    assert statuses.count("CANCELLED") == purged["removed"]
    for job in jobs:  # the running ones (the executor feeds ComfyUI a second one) are left to go on
        if job.status() != "CANCELLED":
            job.cancel()
    assert {wait_status(job, {"CANCELLED", "COMPLETED"}) for job in jobs} == {"CANCELLED"}
    after = endpoint.health()
    assert after["jobs"]["inQueue"] == 0 and after["workers"] == {"idle": 1, "running": 0}


def test_another_endpoint_id_and_a_wrong_key_are_refused(endpoint: Any) -> None:
    with pytest.raises(requests.HTTPError) as other:
        runpod.Endpoint("someone-else", api_key=USER).health()
    assert other.value.response.status_code == 404
    with pytest.raises(RuntimeError, match="401"):
        runpod.Endpoint(ENDPOINT, api_key="wrong").health()
