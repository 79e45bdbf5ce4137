"""Optional API keys: ``API_KEY`` guards every route but /health; ``ADMIN_API_KEY`` guards /admin/* instead;
``API_KEYS_FILE`` names clients with keys of their own (transports.http.clients).

Routes opt out with ``opt={"public": True}`` and mark themselves admin with ``opt={"admin": True}``.
Keys come as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are compared in constant time.
A missing or wrong key is ``401`` with ``WWW-Authenticate`` (RFC 6750: ``error="invalid_token"`` when wrong);
``403`` is a valid key on a route it may not use (API_KEY on /admin/* when ADMIN_API_KEY is set).
"""

from __future__ import annotations

import inspect
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from config.keys import KeyLimits
from store.clients import DEFAULT_OWNER
from transports.http.clients import Caller, KeyRing
from transports.http.quotas import Quotas


def presented_key(connection: ASGIConnection[Any, Any, Any, Any], *, bare: bool = False) -> str | None:
    """``bare``: also RunPod's ``Authorization: <key>`` (no scheme), on the /v2 routes."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        if bare and scheme and not token:
            return scheme
    return connection.headers.get("x-api-key")


CALLER = "caller"  # the request's Caller, in the connection's state


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the guard identified (a public route's caller is anonymous)."""
    found: Caller | None = connection.state.get(CALLER)
    return found if found is not None else Caller(DEFAULT_OWNER, admin=False, limits=KeyLimits(), keyed=False)


def sees_details(connection: ASGIConnection[Any, Any, Any, Any], ring: KeyRing) -> bool:
    """Whether a caller of a public route may see its details: anyone while no key is needed, else a valid key."""
    if not ring.required:
        return True
    given = presented_key(connection)
    return given is not None and ring.caller(given) is not None


def api_key_guard(ring: KeyRing, quotas: Quotas | None = None) -> Guard:
    """Identifies the caller of every route (``caller_of``), refuses a missing or wrong key where one is needed,
    a user's key on an admin route, and a client over its rate or size limit."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if handler.opt.get("public"):
            return
        admin_route = bool(handler.opt.get("admin"))
        given = presented_key(connection, bare=bool(handler.opt.get("runpod")))
        caller = ring.caller(given) if given is not None else None
        if caller is None and given is not None and (ring.required or (admin_route and ring.admin_api_key)):
            raise NotAuthorizedException("invalid API key",
                                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if caller is None:
            if ring.required or (admin_route and ring.admin_api_key):
                raise NotAuthorizedException("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                                             headers={"WWW-Authenticate": "Bearer"})
            caller = ring.anonymous()
        if admin_route and not caller.admin:
            detail = ("this route needs ADMIN_API_KEY: API_KEY may not use /admin/*" if caller.name == DEFAULT_OWNER
                      else "this route needs an admin key")
            raise PermissionDeniedException(detail, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
        connection.state[CALLER] = caller
        if quotas is not None and caller.keyed:
            quotas.check(connection, caller)

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
