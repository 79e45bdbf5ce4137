"""A job's ``output`` option in the executor: image outputs converted (WebP, JPEG; animated ones left alone) and
uploaded to the job's own bucket and prefix (moto's S3 server on loopback), keys checked again."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import rgb_from_int
from tests.s3server import s3_client, s3_server

DAEMON_BUCKET, CLIENT_BUCKET = "daemon-outputs", "client-outputs"
COLOR = 0x3366CC


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(DAEMON_BUCKET) as url:
        s3_client(url).create_bucket(Bucket=CLIENT_BUCKET)
        yield url


def s3_settings(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {"bucket_endpoint_url": endpoint, "bucket_name": DAEMON_BUCKET, "bucket_access_key_id": "k",
            "bucket_secret_access_key": "s", "bucket_region": "us-east-1", "output_s3_buckets": CLIENT_BUCKET,
            **extra}


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def close_to(pixel: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], rgb, strict=True))


@pytest.mark.parametrize(("fmt", "pillow", "ext"), [("webp", "WEBP", ".webp"), ("jpeg", "JPEG", ".jpg")])
async def test_image_output_converted(store: Store, fake_comfyui: FakeComfyUI, executor_factory,
                                      fmt: str, pillow: str, ext: str) -> None:
    job = store.create_job(save_workflow(fmt, color=COLOR, size=32),
                           options={"output": {"format": fmt, "quality": 90}})
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    [entry] = done.result["images"]
    assert entry["content_type"] == f"image/{fmt}" and entry["filename"].endswith(ext)
    [out] = store.get_outputs(job.id)
    assert out.content_type == f"image/{fmt}" and out.filename == entry["filename"]
    image = decoded(out.data)
    assert image.format == pillow and image.size == (32, 32)
    assert close_to(image.convert("RGB").getpixel((5, 7)), rgb_from_int(COLOR))


async def test_animated_output_left_as_it_is(store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": COLOR}},
        "2": {"class_type": "SaveAnimatedPNG", "inputs": {"images": ["1", 0], "filename_prefix": "anim",
                                                          "fps": 6.0, "compress_level": 4}},
    }
    job = store.create_job(workflow, options={"output": {"format": "jpeg"}})
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    [entry] = done.result["images"]
    assert entry["content_type"] == "image/png" and entry["filename"].endswith(".png")
    [out] = store.get_outputs(job.id)
    assert getattr(decoded(out.data), "n_frames", 1) == 2


async def test_job_bucket_and_prefix(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                     executor_factory) -> None:
    """The job's bucket and prefix, the daemon's credentials; the URL and a presigned URL in the result."""
    output = {"s3": {"bucket": CLIENT_BUCKET, "prefix": "team/a", "presign_s": 120}, "format": "webp"}
    job = store.create_job(save_workflow("mine", color=COLOR), options={"output": output})
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    [entry] = done.result["images"]
    assert entry["type"] == "s3_url" and entry["bucket"] == CLIENT_BUCKET
    assert entry["key"] == f"team/a/{job.id}/{entry['filename']}" and entry["filename"].endswith(".webp")
    assert entry["url"] == f"{s3_endpoint}/{CLIENT_BUCKET}/{entry['key']}"
    assert "X-Amz-Signature" in entry["data"] and entry["expires_at"] > done.completed_at
    obj = s3_client(s3_endpoint).get_object(Bucket=CLIENT_BUCKET, Key=entry["key"])
    body = obj["Body"].read()
    assert obj["ContentType"] == "image/webp" and decoded(body).format == "WEBP"
    assert httpx.get(entry["data"]).content == body
    assert store.get_outputs(job.id) == []
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=DAEMON_BUCKET).get("Contents", [])
    assert not any(job.id in o["Key"] for o in listed)


async def test_without_presign_the_url_is_unsigned(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                                   executor_factory) -> None:
    job = store.create_job(save_workflow("plain"), options={"output": {"s3": {"bucket": CLIENT_BUCKET}}})
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint)):
        done = await wait_status(store, job.id)
    [entry] = done.result["images"]
    assert entry["key"] == f"{job.id}/{entry['filename']}" and entry["data"] == entry["url"]
    assert "X-Amz-Signature" not in entry["data"] and "expires_at" not in entry


async def test_key_template_setting(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                    executor_factory) -> None:
    job = store.create_job(save_workflow("tpl"))
    settings = s3_settings(s3_endpoint, bucket_prefix="runs",
                           output_key_template="{prefix}/{node_id}-{index}/{filename}")
    async with executor_factory(fake_comfyui, **settings):
        done = await wait_status(store, job.id)
    [entry] = done.result["images"]
    assert entry["key"] == f"runs/2-0/{entry['filename']}"
    s3_client(s3_endpoint).head_object(Bucket=DAEMON_BUCKET, Key=entry["key"])


async def test_bucket_taken_off_the_list_fails_the_job(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                                       executor_factory) -> None:
    """Accepted while the bucket was allowed, run after the operator removed it: nothing uploaded."""
    job = store.create_job(save_workflow("gone"), options={"output": {"s3": {"bucket": CLIENT_BUCKET}}})
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint, output_s3_buckets="")):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED
    assert done.error["type"] == "invalid_input" and done.error["field"] == "output.s3.bucket"


@pytest.mark.parametrize("prefix", ["../escape", "a/../../b", "a/./b"])
async def test_hostile_prefix_in_the_store_is_refused_again(store: Store, fake_comfyui: FakeComfyUI,
                                                           s3_endpoint: str, executor_factory, prefix: str) -> None:
    """A prefix that never went through the transport's check (written to the store directly) is still refused
    by the executor's key check: no object is written outside the prefix."""
    job = store.create_job(save_workflow("evil"), options={"output": {"s3": {"bucket": CLIENT_BUCKET,
                                                                             "prefix": prefix}}},
                           max_attempts=1)
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error["type"] == "invalid_input", done.error
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket=CLIENT_BUCKET).get("Contents", [])
    assert not any(job.id in o["Key"] for o in listed)
