"""The one function mapping errors to HTTP responses ``{"detail": "...", ...}``; bad input is never a 500."""

from __future__ import annotations

import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, SerializationException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_507_INSUFFICIENT_STORAGE,
)

from config.logging import get_logger
from store import InvalidTransition, JobNotFound, StoreFull
from transports.errors import InvalidRequest, OutputNotFound, OverQuota, UnknownEndpoint

_DOMAIN: dict[type[Exception], int] = {
    JobNotFound: HTTP_404_NOT_FOUND,
    OutputNotFound: HTTP_404_NOT_FOUND,
    UnknownEndpoint: HTTP_404_NOT_FOUND,
    InvalidTransition: HTTP_409_CONFLICT,
    InvalidRequest: HTTP_400_BAD_REQUEST,
    OverQuota: HTTP_429_TOO_MANY_REQUESTS,
    StoreFull: HTTP_507_INSUFFICIENT_STORAGE,  # a full disk is the operator's to fix, not a server bug
}


def _validation_detail(exc: ValidationException) -> dict[str, Any]:
    """Litestar's ``Validation failed for POST /run`` plus the first reason, in words."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    if not (errors and isinstance(errors[0], dict)):
        return {"detail": exc.detail}
    first = errors[0]
    key, message = first.get("key"), str(first.get("message", "invalid value"))
    source = getattr(first.get("source"), "value", first.get("source")) or "request"
    if first.get("source") == "body" and key == "data" and message == "'data'":
        message = "the request body is empty: send a JSON object"
    where = f" ({source} {key!r})" if key and key != "data" else ""
    for error in errors:
        error["source"] = getattr(error.get("source"), "value", error.get("source"))
    return {"detail": f"{exc.detail}: {message}{where}", "errors": errors}


def _content(exc: Exception) -> tuple[int, dict[str, Any]]:
    for kind, status in _DOMAIN.items():
        if isinstance(exc, kind):
            extra = getattr(exc, "extra", None) or {}
            return status, {"detail": str(getattr(exc, "detail", exc) or kind.__doc__), **extra}
    if isinstance(exc, ValidationException):
        return exc.status_code, _validation_detail(exc)
    if isinstance(exc, RecursionError):  # only decoding a request body recurses this deep
        return HTTP_400_BAD_REQUEST, {"detail": "the request body is nested too deeply"}
    if isinstance(exc, UnicodeDecodeError):  # msgspec raises it, unwrapped, for a JSON string of bad UTF-8
        return HTTP_400_BAD_REQUEST, {"detail": f"the request body is not valid UTF-8: {exc.reason}"}
    if isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        return exc.status_code, {"detail": f"the request body is not valid JSON: {exc.detail}"}
    if isinstance(exc, HTTPException):
        body: dict[str, Any] = {"detail": exc.detail}
        if isinstance(exc.extra, dict):
            body.update(exc.extra)
        return exc.status_code, body
    return HTTP_500_INTERNAL_SERVER_ERROR, {"detail": "internal server error"}


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    status, body = _content(exc)
    headers = getattr(exc, "headers", None) if isinstance(exc, HTTPException) else None
    if isinstance(exc, OverQuota):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    if status >= HTTP_500_INTERNAL_SERVER_ERROR and not isinstance(exc, StoreFull):
        get_logger().error("http_unhandled_error", method=request.method, path=request.url.path,
                           error=f"{type(exc).__name__}: {exc}", exc_info=exc)
    return Response(body, status_code=status, headers=headers)
