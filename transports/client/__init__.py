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

from transports.client.aio import AsyncClient
from transports.client.errors import ApiError, ClientError, WaitTimeout
from transports.client.model import TERMINAL, Output, Progress, Status
from transports.client.sync import Client

__all__ = ["TERMINAL", "ApiError", "AsyncClient", "Client", "ClientError", "Output", "Progress", "Status",
           "WaitTimeout"]
