"""The RunPod handler in-process: a real store, a real executor and the fake ComfyUI over real sockets."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.logging import get_logger
from store import Store
from store.s3 import make_uploader
from tests.executor.conftest import executor_factory, make_settings  # noqa: F401
from tests.fake_comfyui.fixtures import fake_comfyui, fake_comfyui_factory  # noqa: F401
from transports.limits import Limits
from transports.runpod.handler import Handler
from transports.runpod.size import OutputLimit
from transports.service import JobService


class Progress:
    """Stands in for ``runpod.serverless.progress_update``: records (runpod job id, payload)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, rp_job: dict[str, Any], payload: dict[str, Any]) -> None:
        self.sent.append((rp_job["id"], payload))


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
def handler_factory(db_path: str, progress: Progress) -> Iterator[Callable[..., Handler]]:
    """`handler_factory(**settings)`: a Handler on its own store connection, progress recorded."""
    stores: list[Store] = []

    def make(**overrides: Any) -> Handler:
        settings = make_settings(db_path, **overrides)
        store = Store(db_path)
        stores.append(store)
        service = JobService(store, max_images=settings.max_images, max_attempts=settings.job_max_attempts,
                             poll_interval_s=0.01, limits=Limits.from_settings(settings))
        limit = OutputLimit(settings.runpod_max_output_mb, make_uploader(settings))
        return Handler(service, limit, get_logger(), send_progress=progress,
                       refresh_worker=settings.refresh_worker, progress_interval_s=0.05)

    yield make
    for store in stores:
        store.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
