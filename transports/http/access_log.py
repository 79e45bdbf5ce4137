"""Access log as an ASGI wrapper around the whole app (so 404s of unknown paths are logged too): one
``http_request`` line per request with method, path, status and duration_ms, the client (the name of the key
the guard identified, never the key) and the job id (the path's, or the one a submit created) — never bodies
or headers: the audit trail of every state-changing request.

Requests that change something (POST, DELETE...) and every answer >= 400 are logged at INFO; successful reads
(GET /status polls, /health probes: most requests, and the cost of a line each in this process and in the
supervisor's relay) at DEBUG, so they show with COMFY_LOG_LEVEL=DEBUG only."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from config.logging import get_logger

READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = get_logger().bind()  # the concrete logger, not the lazy proxy

    def __getattr__(self, name: str) -> Any:  # the wrapped Litestar app's attributes (openapi_schema, ...)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope["method"]
            write = self.log.debug if method in READS and status < 400 else self.log.info
            state = scope.get("state") or {}
            caller = state.get("caller")
            job_id = state.get("job_id") or (scope.get("path_params") or {}).get("job_id")
            write("http_request", method=method, path=scope["path"], status=status,
                  duration_ms=round((time.perf_counter() - start) * 1000, 3),
                  **({"client": caller.name} if caller is not None else {}),
                  **({"job_id": job_id} if job_id else {}))
