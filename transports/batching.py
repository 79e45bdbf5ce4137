"""Group commit: submissions that arrive in the same turn of the event loop are written in one transaction.

Each caller still gets its answer only after the commit that holds its job; nothing waits for a timer, so a
lone request is written at once and a burst of concurrent ones shares a single commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """``await batcher(item)``: ``flush(items)`` runs once per loop turn for every item queued in it."""

    def __init__(self, flush: Callable[[list[In]], Sequence[Out]]) -> None:
        self.flush = flush
        self._queued: list[tuple[In, asyncio.Future[Out]]] = []

    async def __call__(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._run)
        self._queued.append((item, future))
        return await future

    def _run(self) -> None:
        queued, self._queued = self._queued, []
        try:
            results = self.flush([item for item, _ in queued])
        except Exception as exc:  # the transaction failed as a whole: every caller hears why
            for _, future in queued:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(queued, results, strict=True):
            if not future.done():  # a caller that gave up (cancelled) still has its job stored
                future.set_result(result)
