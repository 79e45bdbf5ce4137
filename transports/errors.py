"""Errors of the transports: a request the daemon refuses, with a message a client can act on."""

from __future__ import annotations

from typing import Any


class TransportError(Exception):
    """The transport could not do what was asked."""

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        self.extra = extra
        super().__init__(self.detail)


class InvalidRequest(TransportError):
    """The request is not a valid job request."""


class OutputNotFound(TransportError):
    """The job has no output with this index."""


class UnknownEndpoint(TransportError):
    """No such RunPod endpoint id here (``/v2/{endpoint_id}/...``, see V2_ENDPOINT_ID)."""


class OverQuota(TransportError):
    """The client is over one of its key's limits (429); ``retry_after_s`` says when to try again."""

    def __init__(self, detail: str, *, retry_after_s: float, **extra: Any) -> None:
        super().__init__(detail, limit=detail.split(":", 1)[0], **extra)
        self.retry_after_s = retry_after_s
