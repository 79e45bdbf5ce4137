"""RunPod's endpoint API as the forwarder uses it: ``POST run``, ``GET status/{id}``, ``POST cancel/{id}``.

What a failed ``POST run`` means decides whether a job may ever be sent again:
``NotSent`` (no connection was made, or RunPod answered that it took nothing: 401, 403, 404, 405, 429),
``Rejected`` (400/422: RunPod refused the input itself), and ``MaybeSent`` (a timeout after the request went out,
a dropped connection, a 5xx, an answer without a usable id): RunPod may hold the job under an id we never got.
The API key goes only into the ``Authorization`` header and is never logged (nor is any header).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

REMOTE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")  # what goes into our URLs as RunPod's job id
_NOT_TAKEN = {401, 403, 404, 405, 429}
_REJECTED = {400, 413, 422}
KEEPALIVE_S = 2.0
MAX_ANSWER_BYTES = 512 * 1024 * 1024  # a status body (outputs inline as base64) read at most this large


class RemoteError(Exception):
    """A call to RunPod's API that did not give what was asked."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotSent(RemoteError):
    """RunPod certainly holds no job from this request: the job may be sent again later."""


class Rejected(RemoteError):
    """RunPod refused the input (400): the job fails as an invalid input."""


class MaybeSent(RemoteError):
    """RunPod may hold the job under an id we never got: it must not be sent again."""


class TooLarge(RemoteError):
    """RunPod's status body is larger than the forwarder reads (MAX_ANSWER_BYTES): the job fails."""


class Gone(RemoteError):
    """RunPod knows no job of this id (404 on status): it expired, or the endpoint was changed."""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])[:1000]
    return str(body)[:300]


class RunPodApi:
    """One endpoint: ``<base_url>/<endpoint_id>/...`` with the key as RunPod's bare ``Authorization``."""

    def __init__(self, base_url: str, endpoint_id: str, api_key: str | None, *, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.max_answer_bytes = max_answer_bytes
        headers = {"Authorization": api_key} if api_key else {}
        self.base = f"{base_url.rstrip('/')}/{endpoint_id}"
        # a pooled connection is dropped well before a server would close it, so a POST run never goes out on
        # a connection the server is closing (its outcome would be unknown: MaybeSent)
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        self.client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport,
                                        limits=limits,
                                        follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self.client.aclose()

    async def run(self, body: dict[str, Any]) -> str:
        """POST run; RunPod's id of the new job. Raises NotSent, Rejected or MaybeSent."""
        try:
            response = await self.client.post(f"{self.base}/run", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # no connection: nothing went out
            raise NotSent(f"RunPod's API could not be reached: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise MaybeSent(f"POST run ended without an answer: {type(exc).__name__}") from None
        if response.status_code in _NOT_TAKEN:
            raise NotSent(f"RunPod answered {response.status_code}: {_detail(response)}", status=response.status_code)
        if response.status_code in _REJECTED:
            raise Rejected(_detail(response), status=response.status_code)
        if not response.is_success:
            raise MaybeSent(f"RunPod answered {response.status_code}: {_detail(response)}",
                            status=response.status_code)
        remote_id = _json(response).get("id")
        if not isinstance(remote_id, str) or not REMOTE_ID.fullmatch(remote_id):
            raise MaybeSent("RunPod's answer to POST run has no usable job id", status=response.status_code)
        return remote_id

    async def status(self, remote_id: str) -> dict[str, Any]:
        """GET status/{id}: RunPod's job. Raises Gone (404), TooLarge, or RemoteError (anything else: try again)."""
        try:
            async with self.client.stream("GET", f"{self.base}/status/{remote_id}") as response:
                raw = await self._read(response)
        except httpx.HTTPError as exc:
            raise RemoteError(f"GET status failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            raise Gone(f"RunPod knows no job {remote_id}", status=404)
        if not response.is_success:
            raise RemoteError(f"RunPod answered {response.status_code} to GET status", status=response.status_code)
        try:
            body = json.loads(raw)
        except ValueError:
            raise RemoteError("RunPod's status is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise RemoteError("RunPod's status has no 'status'")
        return body

    async def _read(self, response: httpx.Response) -> bytes:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_answer_bytes:
                raise TooLarge(f"RunPod's status body is over {self.max_answer_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def cancel(self, remote_id: str) -> None:
        """POST cancel/{id}. Raises RemoteError (the caller asks again at its next poll)."""
        try:
            response = await self.client.post(f"{self.base}/cancel/{remote_id}")
        except httpx.HTTPError as exc:
            raise RemoteError(f"POST cancel failed: {type(exc).__name__}") from None
        if not response.is_success:
            raise RemoteError(f"RunPod answered {response.status_code} to cancel: {_detail(response)}",
                              status=response.status_code)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
