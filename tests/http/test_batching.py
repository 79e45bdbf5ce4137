"""Group commit: concurrent submissions share one flush; each caller gets its own answer or the error."""

from __future__ import annotations

import asyncio

import pytest

from transports.batching import Batcher


async def test_submissions_of_one_loop_turn_share_one_flush() -> None:
    flushes: list[list[int]] = []

    def flush(items: list[int]) -> list[int]:
        flushes.append(items)
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(flush)
    assert await asyncio.gather(*(batcher(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert flushes == [[0, 1, 2, 3, 4]]
    assert await batcher(7) == 70 and flushes[-1] == [7]


async def test_a_failed_flush_fails_every_caller_of_that_turn() -> None:
    def flush(items: list[int]) -> list[int]:
        raise RuntimeError("database is locked")

    batcher: Batcher[int, int] = Batcher(flush)
    results = await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)
    assert [str(r) for r in results] == ["database is locked"] * 2
    with pytest.raises(RuntimeError):
        await batcher(3)
