"""At the default DEBUG level no job payload reaches the logs: not the input, the workflow, the images or the output.

The real runpod SDK runs each job: on a (fake) platform inside ``comfyui-worker run``, and in test-input mode.
"""

from __future__ import annotations

import base64
import json
import random
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.executor.conftest import load_workflow
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import Frame, encode_png
from tests.runpod.platform import FakePlatform
from tests.runpod.test_test_input import run_transport
from tests.supervisor.harness import RunningDaemon
from transports.runpod.redact import redact

LONG_BASE64 = re.compile(rb"[A-Za-z0-9+/]{200,}")


def noisy_png(seed: int, size: int = 48) -> bytes:
    """An image that does not compress: its base64 is several KB, as a real output's is."""
    rng = random.Random(seed)
    return encode_png(Frame(size, size, bytes(rng.randrange(256) for _ in range(size * size * 3))))


def job_input(seed: int) -> dict[str, Any]:
    return {"workflow": load_workflow("in.png"), "images": [{"name": "in.png",
                                                             "image": base64.b64encode(noisy_png(seed)).decode()}]}


def assert_no_payload(lines: Iterable[bytes], rp_input: dict[str, Any], output_b64: str) -> None:
    samples = [rp_input["images"][0]["image"][1000:1100], output_b64[:100], output_b64[2000:2100], "class_type"]
    for line in lines:
        assert not LONG_BASE64.search(line), line[:300]
        for sample in samples:
            assert sample.encode() not in line, (sample, line[:300])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
def test_on_the_platform_at_debug_the_logs_hold_no_payload(tmp_path: Path) -> None:
    platform = FakePlatform()
    daemon = RunningDaemon(tmp_path, HTTP_API_MODE="false", COMFY_LOG_LEVEL="DEBUG", **platform.env)
    try:
        rp_input = job_input(1)
        platform.queue.append({"id": "rp-payload", "input": rp_input})
        daemon.start()
        daemon.wait_for(lambda: platform.results("rp-payload"), 60, "the result")
        [body] = platform.results("rp-payload")
        output_b64 = body["output"]["images"][0]["data"]
        assert len(output_b64) > 4000 and base64.b64decode(output_b64).startswith(b"\x89PNG")
        daemon.wait_for(lambda: daemon.events("runpod_job_finished"), 10, "the job's last line")
    finally:
        daemon.close()
        platform.close()
    assert_no_payload(daemon.lines, rp_input, output_b64)
    sdk = [r["message"] for r in daemon.events("runpod_sdk_log") if r.get("runpod_job_id") == "rp-payload"]
    assert any(m.startswith("Handler output: [") for m in sdk), "the SDK's own lines are still there, cut"
    assert daemon.events("runpod_job_submitted") and daemon.events("job_completed")


async def test_test_input_mode_at_debug_logs_no_payload(db_path: str, tmp_path: Path, fake_comfyui: FakeComfyUI,
                                                        executor_factory: Any) -> None:
    """Test-input mode logs the job it read and its whole result (``Job result:``, at INFO)."""
    rp_input = job_input(2)
    async with executor_factory(fake_comfyui):
        code, records = await run_transport(db_path, tmp_path, "--test_input", json.dumps({"input": rp_input}),
                                            level="DEBUG")
    assert code == 0
    from store import Store

    store = Store(db_path)
    try:
        [job] = store.list_jobs().jobs
        output_b64 = base64.b64encode(store.get_outputs(job.id)[0].data).decode()
    finally:
        store.close()
    assert_no_payload([json.dumps(r).encode() for r in records], rp_input, output_b64)
    messages = [r.get("message", "") for r in records if r["event"] == "runpod_sdk_log"]
    assert any(m.startswith("Job result: [") for m in messages)
    assert any(m.startswith("Retrieved local job: [") for m in messages)


@pytest.mark.parametrize(("message", "expected"), [
    ("Handler output: {'images': [{'data': 'iVBORw0'}]}", "Handler output: [33 characters left out]"),
    ("run_job return: {'output': 1}", "run_job return: [13 characters left out]"),
    ("rp_job | Response content is not valid JSON. b'{\"input\"'", "rp_job | Response content is not valid "
                                                                  "JSON. [11 characters left out]"),
    ("abc | Sending Progress Update: {'value': 1}", "abc | Sending Progress Update: [12 characters left out]"),
    ("something new: {'workflow': {}}", "something new: [16 characters left out]"),
    ("token " + "A" * 80 + " end", "token [80 characters left out] end"),
    ("Jobs in queue: 1", "Jobs in queue: 1"),
    ("INFO:     Started server process [4242]", "INFO:     Started server process [4242]"),
])
def test_redact_keeps_the_words_and_leaves_out_the_payload(message: str, expected: str) -> None:
    assert redact(message) == expected
