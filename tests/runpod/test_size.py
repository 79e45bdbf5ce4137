"""RUNPOD_MAX_OUTPUT_MB: a larger result goes through S3 (moto's server on loopback), or fails saying why."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from store import JobStatus, Store
from tests.executor.conftest import load_workflow
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import Frame, encode_png
from tests.runpod.conftest import b64
from tests.s3server import s3_server

BUCKET = "rp-outputs"
NOISE = encode_png(Frame(128, 128, os.urandom(128 * 128 * 3)))  # ~49 KB that no compression shrinks
LIMIT_MB = 0.02  # 20 KB: the inverted noise does not fit inline, its S3 URL does


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


def noise_job() -> dict:
    return {"id": "rp-big", "input": {"workflow": load_workflow("noise.png", prefix="big"),
                                      "images": [{"name": "noise.png", "image": b64(NOISE)}]}}


async def test_too_large_without_s3_fails_naming_size_limit_and_fix(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory, handler_factory) -> None:
    handler = handler_factory(runpod_max_output_mb=LIMIT_MB)
    async with executor_factory(fake_comfyui):
        output = await handler(noise_job())
    message = output["error"]
    assert message.startswith("the result is 0.1 MB, over RUNPOD_MAX_OUTPUT_MB=0.02")
    assert "BUCKET_ENDPOINT_URL" in message and "10 MB" in message
    details = output["details"]
    assert details["type"] == "output_too_large" and details["limit_bytes"] == 20_000
    assert details["size_bytes"] > 60_000 and "images" not in output
    assert store.get_job(output["job_id"]).status is JobStatus.COMPLETED  # the job itself went fine


async def test_too_large_with_s3_returns_urls(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                              executor_factory, handler_factory) -> None:
    handler = handler_factory(runpod_max_output_mb=LIMIT_MB, bucket_endpoint_url=s3_endpoint,
                              bucket_name=BUCKET, bucket_access_key_id="k", bucket_secret_access_key="s",
                              bucket_region="us-east-1", bucket_prefix="rp")
    async with executor_factory(fake_comfyui):  # the executor keeps the bytes in the store (no S3 of its own)
        output = await handler(noise_job())
    assert "error" not in output
    [image] = output["images"]
    assert image["type"] == "s3_url" and "output_index" not in image
    assert image["key"] == f"rp/{output['job_id']}/{image['filename']}"
    fetched = httpx.get(image["data"])
    stored = store.get_outputs(output["job_id"])[0].data
    assert fetched.status_code == 200 and fetched.content == stored and len(stored) > 40_000


async def test_small_result_stays_inline_under_the_limit(fake_comfyui: FakeComfyUI, executor_factory,
                                                         handler_factory) -> None:
    handler = handler_factory(runpod_max_output_mb=1.0)
    async with executor_factory(fake_comfyui):
        output = await handler(noise_job())
    assert output["images"][0]["type"] == "base64"
