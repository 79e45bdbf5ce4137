"""Errors of the client: the API refused a request, or a wait ran out of time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transports.client.model import Status


class ClientError(Exception):
    """The request could not be done."""


class ApiError(ClientError):
    """The API answered with an error (4xx/5xx); ``detail`` is its message."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        self.status_code, self.detail, self.body = status_code, detail, body
        super().__init__(f"HTTP {status_code}: {detail}")


class WaitTimeout(ClientError):
    """The job did not end within the time the caller was willing to wait (it keeps running)."""

    def __init__(self, job_id: str, waited_s: float, last: Status | None) -> None:
        self.job_id, self.waited_s, self.last = job_id, waited_s, last
        super().__init__(f"job {job_id} did not end within {waited_s:g} s")
