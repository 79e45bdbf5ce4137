"""Submitting inputs by reference and video/audio inputs (issue 14 items 1-2) to the real HTTP server: a URL or
``s3://`` the operator's policy refuses is a ``400`` naming the entry (``images[2].image``), before any job is
stored or anything fetched; video and audio files are taken by their content, within their limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from store import Store
from tests import media_samples as m
from tests.http.conftest import PNG, b64
from tests.http.server import Server, running_server

LOAD = {"1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
VIDEO = {"1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
         "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Store]]:
    """One server for the module (each test counts the jobs it adds)."""
    db_path = str(tmp_path_factory.mktemp("refs") / "jobs.db")
    env = {"INPUT_S3_BUCKETS": "inputs", "MAX_VIDEO_MB": "0.001", "MAX_AUDIO_MB": "0.002",
           "INPUT_URL_ALLOWED_HOSTS": "images.example.com,.cdn.example.com,127.0.0.1"}
    with running_server(db_path, **env) as s:
        store = Store(db_path)
        try:
            yield s, store
        finally:
            store.close()


@pytest.fixture
def server(served: tuple[Server, Store]) -> Server:
    return served[0]


@pytest.fixture
def store(served: tuple[Server, Store]) -> Store:
    return served[1]


def _post(server: Server, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/run", json=body, timeout=10)


def _with(url: str) -> dict[str, Any]:
    """The reference third in images[], after two inline images."""
    return {"workflow": LOAD, "images": [{"name": "a.png", "image": b64(PNG)}, {"name": "b.png", "image": b64(PNG)},
                                         {"name": "in.png", "image": url}]}


@pytest.mark.parametrize(("url", "words"), [
    ("http://127.0.0.1:9/in.png", "loopback"),  # on the allow-list, still loopback (INPUT_URL_ALLOW_PRIVATE)
    ("http://images.example.com.evil.net/x.png", "allow-list"),
    ("http://evil.net/images.example.com", "allow-list"),
    ("ftp://images.example.com/in.png", "scheme must be http, https or s3"),
    ("file:///etc/passwd", "scheme must be http, https or s3"),
    ("http://user:pw@images.example.com/in.png", "credentials"),
    ("http://images.example.com/in .png", "spaces"),
    ("s3://private/in.png", "INPUT_S3_BUCKETS"),
    ("s3://inputs/", "must name an object"),
    ("s3://Inputs/x.png", "not a valid bucket name"),
    ("S3://inputs/x.png", "lower case s3://"),
    ("s3://inputs/x\x00.png", "control characters"),
])
def test_a_refused_reference_is_a_400_naming_the_entry(url: str, words: str, server: Server,
                                                       store: Store) -> None:
    total = store.stats()["total"]
    response = _post(server, _with(url))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["detail"].startswith("images[2].image ('in.png')") and words in body["detail"], body
    assert body["field"] == "images[2].image" and store.stats()["total"] == total


def test_an_allowed_reference_is_stored_for_the_executor_to_fetch(server: Server, store: Store) -> None:
    urls = ["https://images.example.com/in.png?sig=1", "https://a.cdn.example.com/in.png", "s3://inputs/k/in.png"]
    for url in urls:
        response = _post(server, _with(url))
        assert response.status_code == 200, response.text
        job = store.get_job(response.json()["job_id"])
        assert [(r.index, r.name, r.url) for r in job.references] == [(2, "in.png", url)]
        assert [i.name for i in store.get_inputs(job.id)] == ["a.png", "b.png"]  # nothing fetched yet


@pytest.mark.parametrize(("name", "data"), [("clip.mp4", m.MP4), ("clip.mp4", m.WEBM), ("voice.wav", m.wav(100)),
                                            ("voice.mp3", m.MP3_ID3), ("voice.flac", m.FLAC),
                                            ("voice.ogg", m.OGG)])
def test_video_and_audio_inputs_are_taken_by_their_content(name: str, data: bytes, server: Server,
                                                           store: Store) -> None:
    response = _post(server, {"workflow": VIDEO, "images": [{"name": name, "image": b64(data)}]})
    assert response.status_code == 200, response.text
    assert store.get_inputs(response.json()["job_id"])[0].data == data


@pytest.mark.parametrize(("data", "words"), [
    (b"#EXTM3U\nhttp://169.254.169.254/latest\n", "is not a PNG"),  # a playlist named .mp4
    (m.HEIC, "is not a PNG"), (m.MKV, "is not a PNG"), (m.M4A, "is not a PNG"),
    (m.MP4 + b"\x00" * 2000, "MAX_VIDEO_MB"), (m.wav(2000), "MAX_AUDIO_MB"),
], ids=["playlist", "heic", "matroska", "m4a", "video-too-large", "audio-too-large"])
def test_video_and_audio_inputs_are_refused_by_content_and_size(data: bytes, words: str, server: Server,
                                                                store: Store) -> None:
    total = store.stats()["total"]
    response = _post(server, {"workflow": VIDEO, "images": [{"name": "clip.mp4", "image": b64(data)}]})
    assert response.status_code == 400 and words in response.json()["detail"], response.text
    assert response.json()["image"] == "clip.mp4" and store.stats()["total"] == total
