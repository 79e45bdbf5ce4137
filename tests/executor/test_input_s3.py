"""Inputs as ``s3://bucket/key`` (issue 14 item 1): read by the real executor from a real S3 server on loopback
(moto) with the daemon's bucket credentials, only from buckets on the allow-list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from store import InputImage, JobStatus, Store
from store.sources import InputRef
from tests.executor.conftest import load_workflow, png, wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.fake_comfyui.images import decode_png
from tests.s3server import s3_client, s3_server

BUCKET = "inputs"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        client = s3_client(url)
        client.create_bucket(Bucket="private")
        client.put_object(Bucket=BUCKET, Key="in/a.png", Body=png(0x102030))
        client.put_object(Bucket=BUCKET, Key="in/big.png", Body=png(1) + b"\x00" * 300_000)
        client.put_object(Bucket="private", Key="secret.png", Body=png(2))
        yield url


def s3_settings(endpoint: str, **extra: Any) -> dict[str, Any]:
    """BUCKET_NAME is the default (and only) bucket inputs may be read from."""
    return {"bucket_endpoint_url": endpoint, "bucket_name": BUCKET, "bucket_access_key_id": "k",
            "bucket_secret_access_key": "s", "bucket_region": "us-east-1", **extra}


def s3_job(store: Store, url: str) -> Any:
    return store.create_job(load_workflow("a.png"), references=[InputRef(index=0, name="a.png", url=url)],
                            max_attempts=2)


async def test_s3_input_is_read_and_loaded(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                           executor_factory) -> None:
    job = s3_job(store, f"s3://{BUCKET}/in/a.png")
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    assert store.get_inputs(job.id) == [InputImage("a.png", png(0x102030))]
    [entry] = done.result["images"]  # outputs go to the bucket too (BUCKET_ENDPOINT_URL)
    output = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    assert decode_png(output)[0].data[:3] == bytes((0xFF - 0x10, 0xFF - 0x20, 0xFF - 0x30))


@pytest.mark.parametrize(("url", "settings", "reason"), [
    (f"s3://{BUCKET}/in/missing.png", {}, "S3 NoSuchKey (HTTP 404)"),
    ("s3://private/secret.png", {}, "bucket 'private' is not on the operator's allow-list (INPUT_S3_BUCKETS)"),
    (f"s3://{BUCKET}/in/a.png", {"input_s3_buckets": "other"}, "bucket 'inputs' is not on the operator's"),
    (f"s3://{BUCKET}/in/big.png", {"input_url_max_mb": 0.1}, "too large"),
])
async def test_s3_input_refused(url: str, settings: dict[str, Any], reason: str, store: Store,
                                fake_comfyui: FakeComfyUI, s3_endpoint: str, executor_factory) -> None:
    """A bucket the daemon's credentials reach is still off limits unless the operator listed it."""
    job = s3_job(store, url)
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint, **settings)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.FAILED and done.error["type"] == "invalid_input", done.error
    assert done.error["reason"].startswith(reason) and done.error["entry"] == "images[0]"
    assert done.attempts == 1 and fake_comfyui.stats()["uploads"] == 0 and store.get_inputs(job.id) == []
