"""Optional API keys: ``API_KEY`` guards every route but /health; ``ADMIN_API_KEY`` guards /admin/* instead.

Routes opt out with ``opt={"public": True}`` and mark themselves admin with ``opt={"admin": True}``.
Keys come as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are compared in constant time.
A missing or wrong key is ``401`` with ``WWW-Authenticate`` (RFC 6750: ``error="invalid_token"`` when wrong);
``403`` is a valid key on a route it may not use (API_KEY on /admin/* when ADMIN_API_KEY is set).
"""

from __future__ import annotations

import hmac
import inspect
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return connection.headers.get("x-api-key")


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def sees_details(connection: ASGIConnection[Any, Any, Any, Any], api_key: str | None,
                 admin_api_key: str | None) -> bool:
    """Whether a caller of a public route may see its details: anyone while API_KEY is unset, else a valid key."""
    if not api_key:
        return True
    given = presented_key(connection)
    return given is not None and (_matches(given, api_key)
                                  or (admin_api_key is not None and _matches(given, admin_api_key)))


def api_key_guard(api_key: str | None, admin_api_key: str | None) -> Guard | None:
    """A guard enforcing the configured keys, or None when no key is set (the API is open)."""
    if not api_key and not admin_api_key:
        return None

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get("public"):
            return
        admin = bool(handler.opt.get("admin"))
        wanted = admin_api_key if admin and admin_api_key else api_key
        if not wanted:
            return
        given = presented_key(connection)
        if given is None:
            raise NotAuthorizedException("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                                         headers={"WWW-Authenticate": "Bearer"})
        if _matches(given, wanted) or (admin_api_key is not None and _matches(given, admin_api_key)):
            return
        if admin and api_key and _matches(given, api_key):  # a valid key, on a route it may not use
            raise PermissionDeniedException("this route needs ADMIN_API_KEY: API_KEY may not use /admin/*",
                                            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
        raise NotAuthorizedException("invalid API key",
                                     headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    return guard


def metrics_key_guard(metrics_api_key: str | None) -> Guard | None:
    """/metrics (``opt={"metrics": True}``) needs METRICS_API_KEY when set; None when unset (open, like /health)."""
    if not metrics_api_key:
        return None

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if not handler.opt.get("metrics"):
            return
        given = presented_key(connection)
        if given is None:
            raise NotAuthorizedException("missing metrics key: send 'Authorization: Bearer <METRICS_API_KEY>' or "
                                         "'X-API-Key'", headers={"WWW-Authenticate": "Bearer"})
        if not _matches(given, metrics_api_key):
            raise NotAuthorizedException("invalid metrics key",
                                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    return guard


def on_the_loop(*guards: Guard) -> Guard:
    """``guards`` as one coroutine guard, run in order on the event loop.

    Litestar runs a plain-function guard in a worker thread (and copies the route handler for each guard): a
    thread hop per guard per request, for checks that take microseconds. One async guard costs neither."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        for check in guards:
            result = check(connection, handler)
            if inspect.isawaitable(result):
                await result

    return guard
