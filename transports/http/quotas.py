"""Per-client limits a request meets before its handler: requests per second (the ``limits`` library's moving
window, in this process's memory: the HTTP transport is one process) and the size of a request body.
Both answer ``429`` with ``Retry-After`` and a detail naming the limit. The limits on pending jobs and on
priority are checked where the job is submitted (transports.service, the jobs controller)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_411_LENGTH_REQUIRED

from transports.errors import OverQuota
from transports.http.clients import Caller

if TYPE_CHECKING:
    from limits import RateLimitItemPerSecond
    from limits.strategies import MovingWindowRateLimiter

_MB = 1024 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Quotas:
    def __init__(self) -> None:
        self._limiter: MovingWindowRateLimiter | None = None  # made at the first rate limit (3 MB of imports)
        self._items: dict[int, RateLimitItemPerSecond] = {}

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is None:
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter

            self._limiter = MovingWindowRateLimiter(MemoryStorage())
        return self._limiter

    def _item(self, rate: int) -> RateLimitItemPerSecond:
        if rate not in self._items:
            from limits import RateLimitItemPerSecond

            self._items[rate] = RateLimitItemPerSecond(rate)
        return self._items[rate]

    def check(self, connection: ASGIConnection[Any, Any, Any, Any], caller: Caller) -> None:
        """Raises OverLimit (429) or 411 for a body without a length where the client has a size limit."""
        rate = caller.limits.requests_per_second
        if rate:
            item = self._item(rate)
            if not self.limiter.hit(item, caller.name):
                reset = self.limiter.get_window_stats(item, caller.name).reset_time
                raise OverQuota(f"requests_per_second: this key may send {rate} requests per second",
                                retry_after_s=reset - time.time(), client=caller.name)
        largest = caller.limits.max_request_mb
        if largest and connection.scope.get("method") in BODY_METHODS:
            length = connection.headers.get("content-length")
            if length is None:
                if connection.headers.get("transfer-encoding"):
                    raise HTTPException(status_code=HTTP_411_LENGTH_REQUIRED,
                                        detail="this key has a request size limit: send Content-Length")
                return
            if not length.isdigit() or int(length) > largest * _MB:
                raise OverQuota(f"max_request_mb: this key's requests may be at most {largest:g} MB",
                                retry_after_s=60, client=caller.name)
