"""``Client``: the HTTP API from blocking code."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from transports.client import common
from transports.client.errors import WaitTimeout
from transports.client.model import Output, Status, status_from

ProgressCallback = Callable[[Status], None]


class Client:
    """One API (``url``), optionally with an API key (sent as ``Authorization: Bearer``)."""

    def __init__(self, url: str = common.DEFAULT_URL, *, api_key: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._auth = common.auth_headers(api_key)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, self.url + path, headers=self._auth, **kwargs)

    def submit(self, workflow: Mapping[str, Any], *, images: common.Images = None,
               priority: int | None = None, timeout_s: float | None = None,
               extra_images: Iterable[Mapping[str, str]] = ()) -> str:
        """Queue a job (POST /run); its id once the daemon has committed it."""
        body = common.job_body(workflow, images, priority=priority, timeout_s=timeout_s,
                               extra_images=extra_images)
        return str(common.checked(self._call("POST", "/run", json=body))["job_id"])

    def status(self, job_id: str, *, with_data: bool = False) -> Status:
        """The job now; output bytes inline as base64 only when ``with_data``."""
        params = {"outputs": "base64" if with_data else "none"}
        return status_from(common.checked(self._call("GET", f"/status/{job_id}", params=params)))

    def wait(self, job_id: str, *, on_progress: ProgressCallback | None = None, poll_s: float = 0.5,
             timeout: float | None = None) -> Status:
        """Poll until the job ends, calling ``on_progress`` with each changed status; WaitTimeout after
        ``timeout`` seconds (the job keeps running)."""
        started, seen, last = time.monotonic(), None, None
        while True:
            last = self.status(job_id)
            if on_progress is not None and common.signature(last) != seen:
                seen = common.signature(last)
                on_progress(last)
            if last.terminal:
                return last
            if timeout is not None and time.monotonic() - started >= timeout:
                raise WaitTimeout(job_id, timeout, last)
            time.sleep(poll_s)

    def cancel(self, job_id: str) -> Status:
        """Cancel a pending job, or ask for a running one to be interrupted (POST /cancel/{id})."""
        return status_from(common.checked(self._call("POST", f"/cancel/{job_id}")))

    def output(self, job_id: str, index: int) -> bytes:
        """The raw bytes of one stored output (GET /jobs/{id}/outputs/{index})."""
        return common.checked_bytes(self._call("GET", f"/jobs/{job_id}/outputs/{index}"))

    def fetch(self, job_id: str, output: Output) -> bytes:
        """An output's bytes: inline, from the store, or from its S3 URL (fetched without the API key)."""
        inline = common.inline_bytes(output)
        if inline is not None:
            return inline
        if output.index is not None and output.type in ("base64", "url"):  # url: too large to inline
            return self.output(job_id, output.index)
        return common.checked_bytes(self._http.get(str(output.data)))

    def download(self, status: Status, out_dir: str | Path) -> list[Path]:
        """Write every output of a finished job into ``out_dir``; the paths written."""
        taken: set[str] = set()
        return [common.write(common.output_path(Path(out_dir), out, taken), self.fetch(status.job_id, out))
                for out in status.outputs()]
