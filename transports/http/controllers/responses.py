"""OpenAPI descriptions of the error responses the handlers may return."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from transports.bodies import ErrorBody


def errors(*codes: int) -> dict[int, ResponseSpec]:
    texts = {
        400: "invalid request (the detail names the field, node or image)",
        401: "API key missing or wrong (WWW-Authenticate says which)",
        403: "a valid key on a route it may not use, or a browser request from an origin not allowed",
        404: "no such job (or output)",
        409: "the job is not in a state this operation may leave",
        413: "request body larger than MAX_REQUEST_MB",
        429: "over one of this key's limits (requests_per_second, max_pending, max_priority, max_request_mb): "
             "Retry-After says when to try again, the detail names the limit",
        415: "a body that is not JSON (Content-Type must be application/json)",
        503: "unhealthy",
        507: "no room for the job: the store's disk is full or below MIN_FREE_DISK_MB (the detail says how much "
             "is free and how to fix it)",
    }
    return {code: ResponseSpec(ErrorBody, description=texts[code], generate_examples=False) for code in codes}
