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
