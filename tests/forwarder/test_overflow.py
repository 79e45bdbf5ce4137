"""Overflow to RunPod end to end on loopback: daemon A's forwarder runs jobs on daemon B's ``/v2`` routes
(standing in for RunPod). A's one executor is held busy by a slow blocker job (its fake ComfyUI sleeps), so
with RUNPOD_OVERFLOW_WAIT_S=0.5 every further job is A's forwarder's once it waited half a second."""

from __future__ import annotations

import base64
import contextlib
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import Store
from tests.image_bytes import png
from tests.supervisor.harness import RunningDaemon, workflow

KEY = "b-secret-key"
ENDPOINT = "overflow-ep"


class Pair:
    def __init__(self, tmp: Path) -> None:
        (tmp / "b").mkdir()
        (tmp / "a").mkdir()
        self.b = RunningDaemon(tmp / "b", API_KEY=KEY, WORKER_ID="daemon-b")
        self.a = RunningDaemon(tmp / "a", WORKER_ID="daemon-a", PIPELINE_DEPTH="1",
                               RUNPOD_OVERFLOW_ENDPOINT_ID=ENDPOINT, RUNPOD_API_KEY=KEY,
                               RUNPOD_OVERFLOW_BASE_URL=f"{self.b.url}/v2", RUNPOD_OVERFLOW_WAIT_S="0.5",
                               RUNPOD_OVERFLOW_POLL_S="0.1")
        self.b.client.headers["Authorization"] = f"Bearer {KEY}"

    def start(self) -> None:
        self.b.start()
        self.a.start()
        self.b.wait_ready()
        self.a.wait_ready()
        self.a.wait_for(lambda: self.a.components().get("forwarder", {}).get("state") == "running", 20,
                        "the forwarder running")
        # A's executor is kept busy: its ComfyUI sleeps on the blocker, which the idle executor claims at once,
        # long before the forwarder may take it (local executors keep priority)
        comfy(self.a, delay_ms=600_000)
        self.blocker = self.a.submit(1)
        self.a.wait_for(lambda: (j := self.a.jobs().get(self.blocker)) and j.status == "running", 20, "blocker")
        assert self.a.client.get(f"{self.a.url}/status/{self.blocker}").json()["ran_on"] == "local"

    def close(self) -> None:
        for daemon in (self.a, self.b):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.signal(signal.SIGTERM)
                with contextlib.suppress(Exception):
                    daemon.wait_exit(30)
            daemon.close()


def comfy(daemon: RunningDaemon, **knobs: Any) -> None:
    httpx.post(f"http://127.0.0.1:{daemon.comfyui_port}/_fake/config", json=knobs, timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    p = Pair(tmp_path_factory.mktemp("overflow"))
    try:
        p.start()
        yield p
    finally:
        p.close()


def status(daemon: RunningDaemon, job_id: str) -> dict[str, Any]:
    return daemon.client.get(f"{daemon.url}/status/{job_id}").json()  # type: ignore[no-any-return]


def wait_status(daemon: RunningDaemon, job_id: str, wanted: set[str], timeout: float = 30) -> dict[str, Any]:
    return daemon.wait_for(lambda: (s := status(daemon, job_id)).get("status") in wanted and s, timeout,
                           f"job {job_id} {wanted}")


def remote_id(daemon: RunningDaemon, job_id: str) -> str | None:
    store = Store(daemon.db_path)
    try:
        ref = store.remote_of(job_id)
        return ref.remote_id if ref else None
    finally:
        store.close()


def b_jobs_for(pair: Pair, before: set[str]) -> list[Any]:
    return [job for job_id, job in pair.b.jobs().items() if job_id not in before]


def test_a_job_overflows_to_b_and_comes_back_as_a_local_run(pair: Pair) -> None:
    comfy(pair.b, delay_ms=0)
    before = set(pair.b.jobs())
    job_id = pair.a.submit(2, flow=workflow(2))
    done = wait_status(pair.a, job_id, {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["ran_on"] == "runpod"
    [remote] = b_jobs_for(pair, before)  # B ran exactly one job: this one
    assert str(remote.status) == "completed" and remote.workflow == workflow(2)
    b_result = status(pair.b, remote.id)["result"]
    a_images, b_images = done["result"]["images"], b_result["images"]
    assert [base64.b64decode(i["data"]) for i in a_images] == [base64.b64decode(i["data"]) for i in b_images]
    assert [{k: v for k, v in i.items() if k != "data"} for i in a_images] == \
        [{k: v for k, v in i.items() if k != "data"} for i in b_images]  # same entries, A's own output_index
    stored = pair.a.client.get(f"{pair.a.url}/jobs/{job_id}/outputs/0")  # the bytes are in A's job_outputs
    assert stored.status_code == 200 and stored.content == base64.b64decode(b_images[0]["data"])
    stats = pair.a.client.get(f"{pair.a.url}/stats").json()
    assert stats["ran_on"]["runpod"]["completed"] >= 1 and stats["ran_on"]["local"]["running"] == 1
    health = pair.a.client.get(f"{pair.a.url}/health").json()
    assert health["components"]["forwarder"]["state"] == "running"


def test_input_images_travel_to_b_as_runpods_base64_images(pair: Pair) -> None:
    comfy(pair.b, delay_ms=0)
    before = set(pair.b.jobs())
    image = png(16, 8)
    flow = {"1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "ovf"}}}
    response = pair.a.client.post(f"{pair.a.url}/run", json={
        "workflow": flow, "images": [{"name": "in.png", "image": base64.b64encode(image).decode()}]})
    done = wait_status(pair.a, response.json()["job_id"], {"completed", "failed"})
    assert done["status"] == "completed" and done["ran_on"] == "runpod", done
    [remote] = b_jobs_for(pair, before)
    store = Store(pair.b.db_path)
    try:
        assert [(i.name, i.data) for i in store.get_inputs(remote.id)] == [("in.png", image)]
    finally:
        store.close()


def test_b_validation_failure_is_the_failed_job_a_local_run_gives(pair: Pair) -> None:
    bad = workflow(3)
    bad["1"]["inputs"]["width"] = "not a number"
    local = pair.b.client.post(f"{pair.b.url}/runsync", json={"workflow": bad}).json()  # B runs it itself
    assert local["status"] == "failed" and local["error"]["type"] == "validation", local
    job_id = pair.a.submit(3, flow=bad)
    failed = wait_status(pair.a, job_id, {"completed", "failed"})
    assert failed["status"] == "failed" and failed["ran_on"] == "runpod"
    assert failed["error"] == local["error"]
    assert failed["attempts"] == 1  # not retried, as a local validation failure


def test_cancel_on_a_cancels_the_job_on_b(pair: Pair) -> None:
    comfy(pair.b, delay_ms=600_000, progress_steps=3000)
    before = set(pair.b.jobs())
    job_id = pair.a.submit(4)
    remote = pair.b.wait_for(lambda: next((j for j in b_jobs_for(pair, before) if j.status == "running"), None),
                             20, "the job running on B")
    assert pair.a.client.post(f"{pair.a.url}/cancel/{job_id}").status_code == 200
    assert wait_status(pair.a, job_id, {"cancelled", "completed", "failed"})["status"] == "cancelled"
    assert wait_status(pair.b, remote.id, {"cancelled", "completed", "failed"})["status"] == "cancelled"


def test_deadline_on_a_times_the_job_out_on_b(pair: Pair) -> None:
    comfy(pair.b, delay_ms=600_000, progress_steps=3000)
    before = set(pair.b.jobs())
    response = pair.a.client.post(f"{pair.a.url}/run", json={"workflow": workflow(5), "timeout_s": 2})
    job_id = response.json()["job_id"]
    failed = wait_status(pair.a, job_id, {"cancelled", "completed", "failed"}, timeout=40)
    assert failed["status"] == "failed" and failed["error"]["type"] == "timeout", failed
    assert failed["error"]["timeout_s"] == 2
    [remote] = b_jobs_for(pair, before)
    assert remote.timeout_s == 2  # RunPod's policy.executionTimeout carried the deadline
    assert wait_status(pair.b, remote.id, {"cancelled", "completed", "failed"})["error"]["type"] == "timeout"


def test_kill_9_of_the_forwarder_mid_job_still_ends_in_one_completed_job(pair: Pair) -> None:
    comfy(pair.b, delay_ms=4000)
    before = set(pair.b.jobs())
    job_id = pair.a.submit(6)
    pair.b.wait_for(lambda: any(j.status == "running" for j in b_jobs_for(pair, before)), 20, "running on B")
    pair.a.wait_for(lambda: remote_id(pair.a, job_id), 10, "its RunPod id in A's store")  # else: never resent
    old = pair.a.kill9("forwarder")
    pair.a.wait_restarted("forwarder", old)
    done = wait_status(pair.a, job_id, {"completed", "failed", "cancelled"}, timeout=40)
    assert done["status"] == "completed" and done["ran_on"] == "runpod", done
    assert done["result"]["images"][0]["data"]
    remote = b_jobs_for(pair, before)
    assert len(remote) == 1 and str(remote[0].status) == "completed"  # sent to B once, resumed by its id
    assert pair.a.events("remote_job_resumed")


def test_an_idle_local_executor_keeps_priority_over_the_forwarder(tmp_path: Path) -> None:
    """QUEUE_DEPTH=0 overflows any job that waits: jobs sent one at a time to an idle executor never do (it has
    RUNPOD_OVERFLOW_LOCAL_FIRST_S to claim each). The endpoint is a closed port: a job the forwarder took would
    come back on a second attempt."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    a = RunningDaemon(tmp_path, RUNPOD_OVERFLOW_ENDPOINT_ID="ep", RUNPOD_OVERFLOW_QUEUE_DEPTH="0",
                      RUNPOD_OVERFLOW_BASE_URL=f"http://127.0.0.1:{closed}/v2")
    try:
        a.start().wait_ready()
        a.wait_for(lambda: a.components().get("forwarder", {}).get("state") == "running", 20, "the forwarder")
        a.wait_for(lambda: any(e.get("state") == "running" for e in a.events("executor_state")), 20,
                   "the executor claiming")  # its process runs before it claims: until then it is not idle
        for color in range(20, 30):
            job_id = a.submit(color)
            done = wait_status(a, job_id, {"completed", "failed"})
            assert (done["status"], done["ran_on"], done["attempts"]) == ("completed", "local", 1), a.tail()
        assert a.events("job_claimed") and not [e for e in a.events("job_claimed") if e.get("ran_on") == "runpod"]
    finally:
        a.close()
