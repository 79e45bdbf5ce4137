"""A page on another site must not drive the API through a visitor's browser.

- A state-changing request (POST, PUT, PATCH, DELETE) from a browser on another origin — it carries an
  ``Origin`` header, or ``Sec-Fetch-Site: cross-site`` / ``same-site`` — is refused (``403``) unless
  ``CORS_ALLOW_ORIGINS`` lists that origin (or is ``*``). Allowed origins get CORS answers, preflight included
  (Litestar's CORSConfig). Clients that are not browsers send neither header and are not affected.
- Bodies are JSON only: a state-changing request whose ``Content-Type`` is not JSON is ``415``, and a route
  that takes a body needs one. No HTML form or ``text/plain`` "simple request" reaches a handler.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import Guard

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OTHER_SITE = frozenset({"cross-site", "same-site"})
_MAX_SHOWN = 100  # characters of a client's header value quoted back in a detail


def allowed_origins(text: str | None) -> frozenset[str]:
    """CORS_ALLOW_ORIGINS (comma-separated ``scheme://host[:port]``, or ``*``) as a set of lowercase origins."""
    return frozenset(o.strip().rstrip("/").lower() for o in (text or "").split(",") if o.strip())


def cors_config(origins: frozenset[str]) -> CORSConfig | None:
    if not origins:
        return None
    return CORSConfig(allow_origins=sorted(origins), allow_methods=["*"],
                      allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                      expose_headers=["Content-Disposition", "WWW-Authenticate"], allow_credentials=False)


def _shown(value: str) -> str:
    return value[:_MAX_SHOWN].encode("ascii", "replace").decode()


def origin_guard(origins: frozenset[str]) -> Guard:
    """Refuse state-changing requests from browsers on origins the operator has not allowed."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") not in UNSAFE_METHODS:
            return
        origin = connection.headers.get("origin")
        site = (connection.headers.get("sec-fetch-site") or "").strip().lower()
        if origin is None and site not in _OTHER_SITE:
            return  # not a cross-origin browser request
        if "*" in origins or (origin is not None and origin.strip().lower() in origins):
            return
        sender = f"origin {_shown(origin)!r}" if origin is not None else f"a {site} page"
        raise PermissionDeniedException(
            f"cross-origin request from {sender} refused: a browser on another site may not change state here; "
            "the operator can allow an origin with CORS_ALLOW_ORIGINS")

    return guard


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def json_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """415 for a state-changing request with a body that is not declared JSON."""
    if connection.scope.get("method") not in UNSAFE_METHODS:
        return
    content_type = connection.headers.get("content-type")
    takes_body = "data" in handler.parsed_fn_signature.parameters
    if content_type is None and not takes_body:
        return
    if content_type is None or not _is_json(content_type):
        given = "no Content-Type" if content_type is None else f"Content-Type {_shown(content_type)!r}"
        raise HTTPException(status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail=f"{given} is not accepted: send a JSON body with "
                                   "'Content-Type: application/json'" + ("" if takes_body else " (or no body)"))
