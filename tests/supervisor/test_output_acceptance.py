"""``comfyui-worker run`` for real (fake ComfyUI): a job's ``output`` field end to end — its own bucket and
prefix on the loopback S3 server, JPEG/WebP outputs decoded, a large output given as a URL and downloaded in two
ranges."""

from __future__ import annotations

import base64
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.fake_comfyui.images import rgb_from_int
from tests.s3server import s3_client, s3_server
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

COLOR = 0x20A040


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with s3_server("daemon-bucket") as url:
        s3_client(url).create_bucket(Bucket="client-bucket")
        yield url


@pytest.fixture
def daemon(tmp_path: Path, s3_endpoint: str) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp_path, OUTPUT_S3_BUCKETS="client-bucket", BUCKET_ACCESS_KEY_ID="k",
                      BUCKET_SECRET_ACCESS_KEY="s", BUCKET_REGION="us-east-1", INLINE_OUTPUT_MAX_MB="0.01",
                      AWS_ENDPOINT_URL_S3=s3_endpoint)
    d.start()
    try:
        d.wait_ready()
        yield d
    finally:
        d.close()


def close_to(pixel: tuple[int, ...], rgb: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 6 for a, b in zip(pixel[:3], rgb, strict=True))


def test_job_bucket_prefix_and_jpeg(daemon: RunningDaemon, s3_endpoint: str) -> None:
    """Without BUCKET_ENDPOINT_URL the store keeps outputs; a job naming an allowed bucket gets its own."""
    output = {"s3": {"bucket": "client-bucket", "prefix": "team/x", "presign": 300}, "format": "jpeg",
              "quality": 92}
    response = daemon.client.post(f"{daemon.url}/runsync", json={"workflow": workflow(COLOR), "output": output})
    body = response.json()
    assert body["status"] == "completed", body
    [entry] = body["result"]["images"]
    assert entry["key"] == f"team/x/{body['job_id']}/{entry['filename']}" and entry["filename"].endswith(".jpg")
    data = s3_client(s3_endpoint).get_object(Bucket="client-bucket", Key=entry["key"])["Body"].read()
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and close_to(image.getpixel((3, 3)), rgb_from_int(COLOR))
    assert daemon.client.get(entry["data"]).content == data  # the presigned URL


def test_webp_output_inline_and_a_large_one_by_url_in_ranges(daemon: RunningDaemon) -> None:
    small = daemon.client.post(f"{daemon.url}/runsync", json={"workflow": workflow(COLOR, size=8),
                                                              "output": {"format": "webp"}}).json()
    [entry] = small["result"]["images"]
    assert entry["type"] == "base64" and entry["content_type"] == "image/webp"
    image = Image.open(io.BytesIO(base64.b64decode(entry["data"])))
    assert image.format == "WEBP" and close_to(image.convert("RGB").getpixel((1, 1)), rgb_from_int(COLOR))

    noise = io.BytesIO()
    Image.frombytes("RGB", (160, 160), os.urandom(160 * 160 * 3)).save(noise, format="PNG")
    flow = {"1": {"class_type": "LoadImage", "inputs": {"image": "noise.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "noise"}}}
    images = [{"name": "noise.png", "image": base64.b64encode(noise.getvalue()).decode()}]
    large = daemon.client.post(f"{daemon.url}/runsync", json={"workflow": flow, "images": images}).json()
    [entry] = large["result"]["images"]
    assert entry["type"] == "url" and "data" in entry and not entry["data"].startswith("iVBOR")
    url = daemon.url + entry["url"]
    whole = daemon.client.get(url).content
    assert len(whole) > 0.01 * 2**20 and whole.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(whole)).tobytes() == Image.open(noise).tobytes()
    half = len(whole) // 2
    first = daemon.client.get(url, headers={"Range": f"bytes=0-{half - 1}"})
    rest = daemon.client.get(url, headers={"Range": f"bytes={half}-"})
    assert (first.status_code, rest.status_code) == (206, 206)
    assert first.content + rest.content == whole
