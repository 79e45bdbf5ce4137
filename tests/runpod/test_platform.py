"""``comfyui-worker run`` as a RunPod worker on a (fake) platform: the SDK's JobScaler takes jobs in batches
of our concurrency, posts results to job-done, and a job-stop signal cancels the job in the store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runpod.platform import FakePlatform
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    yield fake
    fake.close()


def _daemon(tmp_path: Path, platform: FakePlatform, delay_ms: int) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, HTTP_API_MODE="false", FAKE_COMFYUI_DELAY_MS=str(delay_ms), **platform.env)
    d.start()
    yield d
    d.close()
    assert d.not_json() == [], "every stdout line is one JSON object"


@pytest.fixture
def daemon(tmp_path: Path, platform: FakePlatform) -> Iterator[RunningDaemon]:
    yield from _daemon(tmp_path, platform, 1500)


@pytest.fixture
def slow_daemon(tmp_path: Path, platform: FakePlatform) -> Iterator[RunningDaemon]:
    """Jobs long enough that a stop signal always arrives while one runs, however loaded the machine."""
    yield from _daemon(tmp_path, platform, 20_000)


def test_jobs_taken_in_batches_of_pipeline_depth_and_results_posted(daemon: RunningDaemon,
                                                                     platform: FakePlatform) -> None:
    platform.queue += [{"id": f"rp-{c}", "input": {"workflow": workflow(c)}} for c in range(3)]
    daemon.wait_for(lambda: all(platform.results(f"rp-{c}") for c in range(3)), 60, "three results")
    assert platform.batch_sizes[0] == 2  # PIPELINE_DEPTH=2 x 1 instance: ComfyUI always has the next prompt
    for c in range(3):
        [body] = platform.results(f"rp-{c}")
        assert body["output"]["images"][0]["type"] == "base64" and "error" not in body
    assert any(body.get("status") == "IN_PROGRESS" for _, body in platform.done), "progress was posted"


def test_stop_signal_cancels_the_running_job(slow_daemon: RunningDaemon, platform: FakePlatform) -> None:
    daemon = slow_daemon
    platform.queue.append({"id": "rp-stop", "input": {"workflow": workflow(42)}})
    job_id = daemon.wait_running_job(30)
    platform.stop.append("rp-stop")
    daemon.wait_jobs([job_id], {"cancelled"}, 15)
    assert daemon.jobs()[job_id].error["type"] == "cancelled"
    assert platform.results("rp-stop") == []  # a stopped job reports nothing
