"""Fixtures of the HTTP transport's tests: the app on a temp store, a client, and ways to make jobs run."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from config.settings import Settings
from store import Job, OutputFile, Store
from tests.image_bytes import png
from transports.http.app import create_app

PNG = png(8, 8)
WORKFLOW = {"1": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
WORKER = "worker-1"


def b64(data: bytes = PNG) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def settings(db_path: str) -> Settings:
    return Settings(sqlite_db_path=db_path, max_images=3, max_request_mb=1.0)


@pytest.fixture
def make_client(db_path: str) -> Iterator[Callable[..., TestClient[Litestar]]]:
    """A client of an app built with these settings (started; closed at the end of the test)."""
    clients: list[TestClient[Litestar]] = []

    def make(**overrides: Any) -> TestClient[Litestar]:
        values: dict[str, Any] = {"sqlite_db_path": db_path, "max_images": 3, "max_request_mb": 1.0}
        values.update(overrides)
        client = TestClient(create_app(Settings(**values)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient[Litestar]]) -> TestClient[Litestar]:
    return make_client()


def submit(client: TestClient[Litestar], **body: Any) -> str:
    response = client.post("/run", json={"workflow": WORKFLOW, **body})
    assert response.status_code == 200, response.text
    return str(response.json()["job_id"])


def claim(store: Store, job_id: str) -> Job:
    """Run the job (it must be the next pending one), as an executor would."""
    job = store.claim(WORKER)
    assert job is not None and job.id == job_id
    return job


def complete(store: Store, job_id: str, data: bytes = PNG) -> None:
    claim(store, job_id)
    result = {"images": [{"filename": "out.png", "type": "base64", "output_index": 0, "node_id": "2",
                          "content_type": "image/png", "subfolder": ""}]}
    store.complete(job_id, WORKER, result, [OutputFile(0, "out.png", "image/png", data)])
