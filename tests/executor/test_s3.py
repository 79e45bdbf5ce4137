"""BUCKET_ENDPOINT_URL set: outputs go to S3 (moto's server on loopback) with presigned or public URLs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status
from tests.fake_comfyui.harness import FakeComfyUI
from tests.s3server import s3_client, s3_server

BUCKET = "outputs"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server(BUCKET) as url:
        yield url


def s3_settings(endpoint: str, **extra: object) -> dict[str, object]:
    return {"bucket_endpoint_url": endpoint, "bucket_name": BUCKET, "bucket_access_key_id": "k",
            "bucket_secret_access_key": "s", "bucket_region": "us-east-1", "bucket_prefix": "runs", **extra}


async def test_outputs_uploaded_with_presigned_url(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                                   executor_factory) -> None:
    job = store.create_job(save_workflow("s3"))
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint)):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED, done.error
    [entry] = done.result["images"]
    assert entry["type"] == "s3_url" and entry["key"] == f"runs/{job.id}/{entry['filename']}"
    assert store.get_outputs(job.id) == []  # bytes live in S3, not in the store
    obj = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=entry["key"])
    body = obj["Body"].read()
    assert body.startswith(b"\x89PNG") and obj["ContentType"] == "image/png"
    assert "X-Amz-Signature" in entry["data"]
    fetched = httpx.get(entry["data"])
    assert fetched.status_code == 200 and fetched.content == body


async def test_public_url_instead_of_presigned(store: Store, fake_comfyui: FakeComfyUI, s3_endpoint: str,
                                               executor_factory) -> None:
    job = store.create_job(save_workflow("pub"))
    settings = s3_settings(s3_endpoint, bucket_public_url="https://cdn.example.com/", bucket_prefix="")
    async with executor_factory(fake_comfyui, **settings):
        done = await wait_status(store, job.id)
    [entry] = done.result["images"]
    assert entry["data"] == f"https://cdn.example.com/{job.id}/{entry['filename']}"


async def test_s3_upload_error_does_not_leave_the_job_running(store: Store, fake_comfyui: FakeComfyUI,
                                                              s3_endpoint: str, executor_factory) -> None:
    """An upload that fails (here: no such bucket) must end the job, not leave it `running` for ever while
    the executor's heartbeats keep its lease alive."""
    job = store.create_job(save_workflow("nobucket"), max_attempts=1)
    async with executor_factory(fake_comfyui, **s3_settings(s3_endpoint, bucket_name="no-such-bucket")):
        done = await wait_status(store, job.id, timeout=5)
    assert done.status is JobStatus.FAILED
    assert "NoSuchBucket" in done.error["message"]
