"""POST /run: accepted shapes, validation errors, and no job row for a rejected request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import PNG, WORKFLOW, b64
from tests.image_bytes import gif, jpeg, webp_vp8

JPEG = jpeg(64, 48)
GIF = gif(16, 16)
WEBP = webp_vp8(32, 32)


def test_run_returns_the_committed_job_id_and_pending(client: TestClient[Litestar], store: Store) -> None:
    response = client.post("/run", json={"workflow": WORKFLOW})
    assert response.status_code == 200
    body = response.json()
    assert body == {"job_id": body["job_id"], "status": "pending"}
    job = store.get_job(body["job_id"])
    assert job.workflow == WORKFLOW and job.status == "pending"


def test_run_stores_images_decoded_and_options(client: TestClient[Litestar], store: Store) -> None:
    images = [{"name": "in.png", "image": b64(PNG)},
              {"name": "b.jpg", "image": "data:image/jpeg;base64," + b64(JPEG)},
              {"name": "c.webp", "image": b64(WEBP)}]
    body = {"workflow": WORKFLOW, "images": images, "priority": 5, "timeout_s": 12.5, "include_temp": True}
    job_id = client.post("/run", json=body).json()["job_id"]
    job = store.get_job(job_id)
    assert (job.priority, job.timeout_s, job.options) == (5, 12.5, {"include_temp": True})
    assert [(i.name, i.data) for i in store.get_inputs(job_id)] == [("in.png", PNG), ("b.jpg", JPEG),
                                                                     ("c.webp", WEBP)]


def test_run_defaults_timeout_and_attempts_from_settings(make_client: Any, store: Store) -> None:
    client = make_client(job_timeout_s=99.0, job_max_attempts=5)
    job = store.get_job(client.post("/run", json={"workflow": WORKFLOW}).json()["job_id"])
    assert (job.timeout_s, job.max_attempts) == (99.0, 5)


@pytest.mark.parametrize("body", [
    {"input": {"workflow": WORKFLOW, "images": [{"name": "g.gif", "image": b64(GIF)}]}},
    {"input": json.dumps({"workflow": WORKFLOW})},
])
def test_run_accepts_the_runpod_wrapper(client: TestClient[Litestar], store: Store,
                                        body: dict[str, Any]) -> None:
    response = client.post("/run", json=body)
    assert response.status_code == 200, response.text
    assert store.get_job(response.json()["job_id"]).workflow == WORKFLOW


def _rejected(client: TestClient[Litestar], store: Store, content: str, *words: str) -> dict[str, Any]:
    response = client.post("/run", content=content.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert isinstance(body["detail"], str)
    for word in words:
        assert word in body["detail"], body
    assert store.stats()["total"] == 0  # never a job row for a rejected request
    return body


@pytest.mark.parametrize(("body", "words"), [
    ({}, ("workflow",)),
    ({"workflow": {}}, ("non-empty",)),
    ({"workflow": []}, ("object",)),
    ({"workflow": "text"}, ("object",)),
    ({"workflow": {"7": 3}}, ("'7'",)),
    ({"workflow": {"7": {"inputs": {}}}}, ("'7'", "class_type")),
    ({"workflow": {"7": {"class_type": "", "inputs": {}}}}, ("'7'", "class_type")),
    ({"workflow": {"7": {"class_type": "X"}}}, ("'7'", "inputs")),
    ({"workflow": {"7": {"class_type": "X", "inputs": []}}}, ("'7'", "inputs")),
    ({"workflow": WORKFLOW, "priority": "high"}, ("priority",)),
    ({"workflow": WORKFLOW, "priority": 10**9}, ("priority",)),
    ({"workflow": WORKFLOW, "timeout_s": 0}, ("timeout_s",)),
    ({"workflow": WORKFLOW, "timeout_s": -1}, ("timeout_s",)),
    ({"workflow": WORKFLOW, "images": {"a": 1}}, ("images",)),
    ({"workflow": WORKFLOW, "images": [{"name": "a.png"}]}, ("image",)),
    ({"input": "not json"}, ("input",)),
    ({"input": 5}, ("input",)),
    ({"input": {"images": []}}, ("workflow",)),
    ({"input": {"workflow": WORKFLOW}, "workflow": WORKFLOW}, ("not both",)),
])
def test_run_rejects_bad_bodies_naming_the_field(client: TestClient[Litestar], store: Store,
                                                   body: Any, words: tuple[str, ...]) -> None:
    _rejected(client, store, json.dumps(body), *words)


@pytest.mark.parametrize("content", ["{", "[]", "null", "", "5", '{"workflow": {"1": {"inputs"', "\xff",
                                     '{"workflow": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                     '{"workflow": {"1": {"class_type": "X"}}, "priority": 1e400}'])
def test_run_rejects_malformed_json(client: TestClient[Litestar], store: Store, content: str) -> None:
    _rejected(client, store, content)


@pytest.mark.parametrize(("image", "words"), [
    ("%%%not base64%%%", ("'in.png'", "base64")),
    (b64(b"just some text, not an image"), ("'in.png'", "PNG")),
    ("data:image/png," + b64(PNG), ("'in.png'", "data URI")),
    ("", ("'in.png'",)),
])
def test_run_rejects_images_that_are_not_images(client: TestClient[Litestar], store: Store,
                                                 image: str, words: tuple[str, ...]) -> None:
    body = {"workflow": WORKFLOW, "images": [{"name": "in.png", "image": image}]}
    assert _rejected(client, store, json.dumps(body), *words)["image"] == "in.png"


@pytest.mark.parametrize("name", ["", "../x", "a/b.png", "a\\b.png", "..", "x..png", " a.png", "a\x00.png"])
def test_run_rejects_unsafe_image_names(client: TestClient[Litestar], store: Store, name: str) -> None:
    body = {"workflow": WORKFLOW, "images": [{"name": name, "image": b64()}]}
    _rejected(client, store, json.dumps(body), "image name")


def test_run_rejects_duplicate_image_names(client: TestClient[Litestar], store: Store) -> None:
    images = [{"name": "a.png", "image": b64()}, {"name": "a.png", "image": b64()}]
    _rejected(client, store, json.dumps({"workflow": WORKFLOW, "images": images}), "twice")


def test_run_rejects_more_images_than_max_images(client: TestClient[Litestar], store: Store) -> None:
    images = [{"name": f"{i}.png", "image": b64()} for i in range(4)]  # the fixture allows 3
    body = _rejected(client, store, json.dumps({"workflow": WORKFLOW, "images": images}), "at most 3")
    assert body["max_images"] == 3


def test_run_accepts_line_wrapped_and_unpadded_base64(client: TestClient[Litestar], store: Store) -> None:
    text = b64(PNG + b"\x01").rstrip("=")
    wrapped = "\n".join(text[i:i + 8] for i in range(0, len(text), 8))
    body = {"workflow": WORKFLOW, "images": [{"name": "in.png", "image": wrapped}]}
    job_id = client.post("/run", json=body).json()["job_id"]
    assert store.get_inputs(job_id)[0].data == PNG + b"\x01"


def test_run_body_over_max_request_mb_is_413(client: TestClient[Litestar], store: Store) -> None:
    big = b64(PNG + b"\x00" * 1_100_000)  # the fixture allows 1 MB
    response = client.post("/run", json={"workflow": WORKFLOW, "images": [{"name": "a.png", "image": big}]})
    assert response.status_code == 413
    assert "detail" in response.json()
    assert store.stats()["total"] == 0
