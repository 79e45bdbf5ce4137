"""Running the real executor, in the test's event loop, against the fake ComfyUI over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from config.settings import Settings
from executor.loop import Executor
from store import Job, JobStatus, Store
from tests.fake_comfyui.fixtures import fake_comfyui, fake_comfyui_factory  # noqa: F401
from tests.fake_comfyui.harness import FakeComfyUI

_colors = itertools.count(1000)

FAST = {
    "heartbeat_interval_s": 0.2, "poll_interval_s": 0.01, "websocket_reconnect_delay_s": 0.05,
    "websocket_reconnect_attempts": 3, "progress_throttle_s": 0.0, "shutdown_grace_s": 5.0,
    "comfyui_probe_interval_s": 0.05,
}


def make_settings(db_path: str, **overrides: Any) -> Settings:
    return Settings(sqlite_db_path=db_path, **{**FAST, **overrides})


def save_workflow(prefix: str = "t", color: int | None = None, size: int = 16) -> dict[str, Any]:
    """EmptyImage -> SaveImage; a fresh color each call, so ComfyUI's cache never serves it."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                      "color": next(_colors) if color is None else color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def load_workflow(name: str, prefix: str = "inv") -> dict[str, Any]:
    """LoadImage(name) -> ImageInvert -> SaveImage."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll a condition (not a sleep-as-assertion: fails with a message when it never holds)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


async def wait_status(store: Store, job_id: str, *statuses: JobStatus, timeout: float = 10.0) -> Job:
    wanted = set(statuses) or {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}

    def check() -> Job | None:
        job = store.get_job(job_id)
        return job if job.status in wanted else None

    return await wait_until(check, timeout, f"job {job_id} to be {sorted(wanted)}")  # type: ignore[no-any-return]


class Running:
    """An executor running as a task of the test's event loop."""

    def __init__(self, executor: Executor, task: asyncio.Task[int]) -> None:
        self.executor, self.task = executor, task

    async def stop(self, timeout: float = 10.0) -> int:
        self.executor.stop()
        return await asyncio.wait_for(self.task, timeout)


@pytest.fixture
def executor_factory(db_path: str) -> Callable[..., Any]:
    """`async with executor_factory(fake, **settings) as running:` runs one executor until the block ends."""

    @asynccontextmanager
    async def start(fake: FakeComfyUI | str, *, worker_id: str = "w1",
                    **overrides: Any) -> AsyncIterator[Running]:
        settings = make_settings(db_path, **overrides)
        url = fake if isinstance(fake, str) else fake.url
        own_store = Store(db_path)
        executor = Executor(settings, own_store, comfyui_url=url, worker_id=worker_id,
                            client_id=f"test-{worker_id}-{next(_colors)}")
        running = Running(executor, asyncio.create_task(executor.run()))
        try:
            yield running
        finally:
            if not running.task.done():
                await running.stop(timeout=15)
            own_store.close()

    return start


def trace_workflow(name: str) -> dict[str, Any]:
    """The workflow a recorded trace ran (tests/fake_comfyui/data/traces/<name>.json)."""
    import json

    from tests.fake_comfyui.catalog import DATA_DIR

    return json.loads((DATA_DIR / "traces" / f"{name}.json").read_text())["workflow"]  # type: ignore[no-any-return]


def png(color: int, size: int = 8) -> bytes:
    from tests.fake_comfyui.images import Frame, encode_png, rgb_from_int

    return encode_png(Frame.solid(size, size, rgb_from_int(color)))
