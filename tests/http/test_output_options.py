"""A job's ``output`` field at submit: what passes is stored for the executor; a bucket not on
OUTPUT_S3_BUCKETS, a prefix that could leave its place, a bad format, quality or presign get 400 naming it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import WORKFLOW

ALLOWED = "client-bucket"


@pytest.fixture
def client(make_client: Callable[..., TestClient[Litestar]]) -> TestClient[Litestar]:
    return make_client(output_s3_buckets=f"{ALLOWED}, other-bucket", bucket_name="daemon-bucket",
                       bucket_url_expiry_s=900, output_presign_max_s=3600)


def stored_output(client: TestClient[Litestar], store: Store, body: dict[str, Any]) -> Any:
    response = client.post("/run", json=body)
    assert response.status_code == 200, response.text
    return store.get_job(response.json()["job_id"]).options.get("output")


def refused(client: TestClient[Litestar], output: Any, *, runpod: bool = False) -> str:
    body = {"input": {"workflow": WORKFLOW, "output": output}} if runpod else {"workflow": WORKFLOW,
                                                                              "output": output}
    response = client.post("/run", json=body)
    assert response.status_code == 400, response.text
    return str(response.json()["detail"])


def test_accepted_output_is_stored_for_the_executor(client: TestClient[Litestar], store: Store) -> None:
    output = {"s3": {"bucket": ALLOWED, "prefix": "team-a/2026/", "presign": True}, "format": "webp",
              "quality": 80}
    assert stored_output(client, store, {"workflow": WORKFLOW, "output": output}) == {
        "s3": {"bucket": ALLOWED, "prefix": "team-a/2026", "presign_s": 900}, "format": "webp", "quality": 80}


def test_runpod_shaped_body_carries_output(client: TestClient[Litestar], store: Store) -> None:
    body = {"input": {"workflow": WORKFLOW, "output": {"s3": {"bucket": ALLOWED, "presign": 60},
                                                        "format": "jpeg"}}}
    assert stored_output(client, store, body) == {"s3": {"bucket": ALLOWED, "prefix": "", "presign_s": 60},
                                                  "format": "jpeg"}


def test_no_output_field_stores_nothing(client: TestClient[Litestar], store: Store) -> None:
    assert stored_output(client, store, {"workflow": WORKFLOW}) is None


@pytest.mark.parametrize("runpod", [False, True])
@pytest.mark.parametrize("bucket", ["not-listed", "daemon-bucket", "client-bucket ", "", "x" * 300])
def test_bucket_not_allowed(client: TestClient[Litestar], bucket: str, runpod: bool) -> None:
    detail = refused(client, {"s3": {"bucket": bucket}}, runpod=runpod)
    assert "bucket" in detail


def test_default_bucket_must_be_listed_too(client: TestClient[Litestar]) -> None:
    """No bucket named: the daemon's BUCKET_NAME, which is not on the list here."""
    assert "output.s3.bucket" in refused(client, {"s3": {"prefix": "p"}})


def test_no_per_job_bucket_by_default(make_client: Callable[..., TestClient[Litestar]]) -> None:
    client = make_client()  # OUTPUT_S3_BUCKETS empty
    assert "output.s3.bucket" in refused(client, {"s3": {"bucket": "comfyui-outputs"}})


@pytest.mark.parametrize("prefix", [
    "../up", "a/../../b", "a/..", "..", "/absolute", "a//b", "./a", "a/./b", "a\\..\\b", "a\nb", "a\x00b",
    "%2e%2e/x", "a b", "é", "x" * 257, "a/{job_id}",
])
def test_hostile_prefix(client: TestClient[Litestar], prefix: str) -> None:
    assert "output.s3.prefix" in refused(client, {"s3": {"bucket": ALLOWED, "prefix": prefix}})


@pytest.mark.parametrize(("output", "field"), [
    ({"format": "gif"}, "output.format"), ({"format": "WEBP"}, "output.format"), ({"format": 1}, "output.format"),
    ({"format": "jpeg", "quality": 0}, "output.quality"), ({"format": "jpeg", "quality": 101}, "output.quality"),
    ({"format": "jpeg", "quality": "high"}, "output.quality"), ({"format": "jpeg", "quality": 50.5}, "output.quality"),
    ({"quality": 50}, "output.quality"), ({"format": "png", "quality": 50}, "output.quality"),
    ({"s3": {"bucket": ALLOWED, "presign": 3601}}, "output.s3.presign"),
    ({"s3": {"bucket": ALLOWED, "presign": 0}}, "output.s3.presign"),
    ({"s3": {"bucket": ALLOWED, "presign": -5}}, "output.s3.presign"),
    ({"s3": {"bucket": ALLOWED, "presign": "yes"}}, "output.s3.presign"),
    ({"s3": {"bucket": ALLOWED, "endpoint": "http://169.254.169.254"}}, "output.s3"),
    ({"s3": "s3://client-bucket/x"}, "output.s3"), ({"destination": "x"}, "output"), ("webp", "output"),
])
def test_bad_values_name_the_field(client: TestClient[Litestar], output: Any, field: str) -> None:
    detail = refused(client, output)
    assert field in detail.replace("$.", "").replace("`", ""), detail


def test_output_beside_input_is_refused(client: TestClient[Litestar]) -> None:
    response = client.post("/run", json={"input": {"workflow": WORKFLOW}, "output": {"format": "png"}})
    assert response.status_code == 400 and "output" in response.json()["detail"]


def test_v2_run_carries_output_and_refuses_the_same(client: TestClient[Litestar], store: Store) -> None:
    """RunPod's endpoint API (/v2/{endpoint_id}/run) takes the same ``input.output``, checked the same way."""
    body = {"input": {"workflow": WORKFLOW, "output": {"s3": {"bucket": ALLOWED}, "format": "webp"}}}
    response = client.post("/v2/ep1/run", json=body)
    assert response.status_code == 200, response.text
    assert store.get_job(response.json()["id"]).options["output"] == {
        "s3": {"bucket": ALLOWED, "prefix": "", "presign_s": None}, "format": "webp"}
    bad = client.post("/v2/ep1/run", json={"input": {"workflow": WORKFLOW, "output": {"s3": {"bucket": "nope"}}}})
    assert bad.status_code == 400 and "output.s3.bucket" in bad.json()["detail"]
