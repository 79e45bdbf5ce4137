"""A small client for the HTTP API: submit, status, wait (with progress), cancel, download outputs.

It needs only httpx and msgspec (never litestar, uvicorn or runpod), so it can be copied or installed next
to any application::

    from transports.client import Client

    with Client("http://127.0.0.1:8000", api_key=None) as client:
        job_id = client.submit(workflow, images=["input.png"])
        status = client.wait(job_id, on_progress=print)
        paths = client.download(status, "out/")

``AsyncClient`` has the same methods, as coroutines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transports.client.aio import AsyncClient
    from transports.client.errors import ApiError, ClientError, WaitTimeout
    from transports.client.model import TERMINAL, Output, Progress, Status
    from transports.client.sync import Client

# imported on first use, so `comfyui-worker <any command>` does not pay for httpx
_HOMES = {
    "AsyncClient": "aio", "Client": "sync", "ApiError": "errors", "ClientError": "errors",
    "WaitTimeout": "errors", "TERMINAL": "model", "Output": "model", "Progress": "model", "Status": "model",
}

__all__ = ["TERMINAL", "ApiError", "AsyncClient", "Client", "ClientError", "Output", "Progress", "Status",
           "WaitTimeout"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
