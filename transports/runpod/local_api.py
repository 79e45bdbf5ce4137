"""The RunPod SDK's local test API (SERVE_API_LOCALLY=true), with our request size limit.

The SDK serves its FastAPI app with no limit on request bodies; this wraps that app so a body over
MAX_REQUEST_MB is answered ``413`` (before it is read when Content-Length says so, as soon as it passes the
limit when it is chunked). The local API is for testing on one's own machine: it has no API key.
"""

from __future__ import annotations

import json
from typing import Any

from transports.exposure import is_loopback

_MB = 1024 * 1024  # as the HTTP transport counts MAX_REQUEST_MB

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    """ASGI middleware: HTTP request bodies up to ``max_mb``, else ``413 {"detail": ...}``."""

    def __init__(self, app: Any, max_mb: float) -> None:
        self.app, self.max_bytes = app, int(max_mb * _MB)
        self.detail = f"request body larger than MAX_REQUEST_MB ({max_mb:g} MB)"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send, 413 if declared.isdigit() else 400)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send, 413)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Any, status: int) -> None:
        detail = self.detail if status == 413 else "invalid Content-Length"
        content = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(content)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that hands the app the body already read, then waits for the disconnect as usual."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    return replay


def limit_request_size(max_mb: float) -> None:
    """Make the SDK's WorkerAPI serve its app behind BodyLimit (call before ``runpod.serverless.start``)."""
    from runpod.serverless.modules import rp_fastapi

    class LimitedWorkerAPI(rp_fastapi.WorkerAPI):  # type: ignore[misc]
        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config)
            self.rp_app.add_middleware(BodyLimit, max_mb=max_mb)

    rp_fastapi.WorkerAPI = LimitedWorkerAPI


def exposure_warning(api_host: str) -> str | None:
    if is_loopback(api_host):
        return None
    return (f"SERVE_API_LOCALLY serves the RunPod SDK's test API on API_HOST={api_host}, beyond loopback, "
            "without any API key: it is for local testing only")
