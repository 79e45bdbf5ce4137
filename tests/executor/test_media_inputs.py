"""Video and audio inputs (issue 14 item 2) through the real executor to the fake ComfyUI: uploaded through
``/upload/image`` like images (ComfyUI stores any file in input/), under the extension of their content, and
loaded by LoadVideo's ``file`` and LoadAudio's ``audio``; fetched ones are checked the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store import InputImage, JobStatus, Store
from store.sources import InputRef
from tests import media_samples as m
from tests.executor.conftest import wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.input_server import Reply, input_server


def preview(loader: str, key: str, name: str) -> dict[str, Any]:
    return {"1": {"class_type": loader, "inputs": {key: name}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def uploads(fake: FakeComfyUI, job_id: str) -> dict[str, bytes]:
    folder = Path(fake.input_dir) / "jobs" / job_id
    return {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}


@pytest.mark.parametrize(("loader", "key", "name", "data", "stored"), [
    ("LoadVideo", "file", "clip.mp4", m.MP4, "clip.mp4"),
    ("LoadVideo", "file", "clip.mp4", m.WEBM, "clip.webm"),  # the name said mp4, the content is WebM
    ("LoadAudio", "audio", "voice.wav", m.wav(), "voice.wav"),
    ("LoadAudio", "audio", "voice", m.FLAC, "voice.flac"),
    ("LoadAudio", "audio", "voice.ogg", m.MP3_FRAME, "voice.mp3"),
])
async def test_video_and_audio_inputs_are_uploaded_and_loaded(loader: str, key: str, name: str, data: bytes,
                                                              stored: str, store: Store,
                                                              fake_comfyui: FakeComfyUI, executor_factory) -> None:
    job = store.create_job(preview(loader, key, name), images=[InputImage(name, data)])
    async with executor_factory(fake_comfyui):  # no COMFYUI_INPUT_DIR: the uploads stay for us to see
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert uploads(fake_comfyui, job.id) == {stored: data}
    [text] = done.result["text"]
    assert ("sample_rate" if loader == "LoadAudio" else "VideoFromFile") in text["text"]


async def test_a_fetched_video_is_checked_like_an_uploaded_one(store: Store, fake_comfyui: FakeComfyUI,
                                                               executor_factory) -> None:
    with input_server() as server:
        good = server.route("/clip", Reply(200, m.WEBM))
        big = server.route("/big.mp4", Reply(200, m.MP4 + b"\x00" * 4000))
        ok = store.create_job(preview("LoadVideo", "file", "clip.mp4"),
                              references=[InputRef(index=0, name="clip.mp4", url=good)])
        refused = store.create_job(preview("LoadVideo", "file", "big.mp4"),
                                   references=[InputRef(index=0, name="big.mp4", url=big)])
        async with executor_factory(fake_comfyui, input_url_allow_private=True, max_video_mb=0.002):
            done, failed = await wait_status(store, ok.id), await wait_status(store, refused.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert failed.error["type"] == "invalid_input" and "MAX_VIDEO_MB" in failed.error["reason"]
