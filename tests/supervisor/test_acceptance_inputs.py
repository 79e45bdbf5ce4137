"""Inputs by URL and audio inputs through the real ``comfyui-worker run`` (issue 14 items 1-2): the executor
process fetches from a loopback HTTP server, the fake ComfyUI loads what it uploaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media_samples as m
from tests.fake_comfyui.images import decode_png
from tests.http.conftest import b64
from tests.image_bytes import png
from tests.input_jobs import INVERT, output_png, run_job
from tests.input_server import InputServer, Reply, input_server
from tests.supervisor.harness import RunningDaemon


@pytest.fixture
def server() -> Iterator[InputServer]:
    with input_server() as s:
        yield s


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, INPUT_URL_ALLOW_PRIVATE="true", INPUT_URL_TIMEOUT_S="2", JOB_MAX_ATTEMPTS="2",
                      INPUT_URL_RETRY_DELAY_S="0.1")
    d.start()
    d.wait_ready()
    yield d
    d.close()


def test_an_input_by_url_is_fetched_and_inverted(daemon: RunningDaemon, server: InputServer) -> None:
    url = server.route("/in.png", Reply(503), Reply(200, png(8, 8)))  # fails once: tried again, fetched
    status = run_job(daemon, {"workflow": INVERT, "images": [{"name": "in.png", "image": url}]})
    assert status["status"] == "completed", status
    frame, _ = decode_png(output_png(status))
    assert frame.data[:3] == bytes((0xFF - 0x7F,) * 3) and status["attempts"] == 1  # within the claim
    assert server.hits("/in.png") == 2


def test_a_missing_input_fails_the_job_naming_the_entry(daemon: RunningDaemon, server: InputServer) -> None:
    images = [{"name": "a.png", "image": b64(png(8, 8))}, {"name": "in.png", "image": server.url("/nothing")}]
    status = run_job(daemon, {"workflow": INVERT, "images": images})
    assert status["status"] == "failed" and status["attempts"] == 1
    error = status["error"]
    assert error["type"] == "invalid_input" and error["entry"] == "images[1]" and error["reason"] == "HTTP 404"


def test_an_audio_input_is_loaded(daemon: RunningDaemon) -> None:
    flow = {"1": {"class_type": "LoadAudio", "inputs": {"audio": "voice.mp3"}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    status = run_job(daemon, {"workflow": flow, "images": [{"name": "voice.mp3", "image": b64(m.wav())}]})
    assert status["status"] == "completed", status
    assert "'sample_rate': 8000" in status["result"]["text"][0]["text"]  # a WAV named .mp3, stored as .wav
