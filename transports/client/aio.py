"""``AsyncClient``: the HTTP API from asyncio code (the same methods as ``Client``, awaited)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from transports.client import common
from transports.client.errors import WaitTimeout
from transports.client.model import Output, Status, status_from

ProgressCallback = Callable[[Status], None]


class AsyncClient:
    """One API (``url``), optionally with an API key (sent as ``Authorization: Bearer``)."""

    def __init__(self, url: str = common.DEFAULT_URL, *, api_key: str | None = None, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._auth = common.auth_headers(api_key)
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._http.request(method, self.url + path, headers=self._auth, **kwargs)

    async def submit(self, workflow: Mapping[str, Any], *, images: common.Images = None,
                     priority: int | None = None, timeout_s: float | None = None,
                     extra_images: Iterable[Mapping[str, str]] = ()) -> str:
        """Queue a job (POST /run); its id once the daemon has committed it."""
        body = common.job_body(workflow, images, priority=priority, timeout_s=timeout_s,
                               extra_images=extra_images)
        return str(common.checked(await self._call("POST", "/run", json=body))["job_id"])

    async def status(self, job_id: str, *, with_data: bool = False) -> Status:
        """The job now; output bytes inline as base64 only when ``with_data``."""
        params = {"outputs": "base64" if with_data else "none"}
        return status_from(common.checked(await self._call("GET", f"/status/{job_id}", params=params)))

    async def wait(self, job_id: str, *, on_progress: ProgressCallback | None = None, poll_s: float = 0.5,
                   timeout: float | None = None) -> Status:
        """Poll until the job ends, calling ``on_progress`` with each changed status; WaitTimeout after
        ``timeout`` seconds (the job keeps running)."""
        started, seen, last = time.monotonic(), None, None
        while True:
            last = await self.status(job_id)
            if on_progress is not None and common.signature(last) != seen:
                seen = common.signature(last)
                on_progress(last)
            if last.terminal:
                return last
            if timeout is not None and time.monotonic() - started >= timeout:
                raise WaitTimeout(job_id, timeout, last)
            await asyncio.sleep(poll_s)

    async def cancel(self, job_id: str) -> Status:
        """Cancel a pending job, or ask for a running one to be interrupted (POST /cancel/{id})."""
        return status_from(common.checked(await self._call("POST", f"/cancel/{job_id}")))

    async def output(self, job_id: str, index: int) -> bytes:
        """The raw bytes of one stored output (GET /jobs/{id}/outputs/{index})."""
        return common.checked_bytes(await self._call("GET", f"/jobs/{job_id}/outputs/{index}"))

    async def fetch(self, job_id: str, output: Output) -> bytes:
        """An output's bytes: inline, from the store, or from its S3 URL (fetched without the API key)."""
        inline = common.inline_bytes(output)
        if inline is not None:
            return inline
        if output.index is not None and output.type in ("base64", "url"):  # url: too large to inline
            return await self.output(job_id, output.index)
        return common.checked_bytes(await self._http.get(str(output.data)))

    async def download(self, status: Status, out_dir: str | Path) -> list[Path]:
        """Write every output of a finished job into ``out_dir``; the paths written."""
        taken: set[str] = set()
        paths = []
        for out in status.outputs():
            paths.append(common.write(common.output_path(Path(out_dir), out, taken),
                                      await self.fetch(status.job_id, out)))
        return paths
