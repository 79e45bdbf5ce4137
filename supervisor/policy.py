"""When to restart a failed child: capped exponential backoff with jitter; fatal after too many failures."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import msgspec


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_s: float = 0.5  # delay after the first failure in the window
    max_s: float = 30.0  # cap of the delay
    jitter: float = 0.5  # the delay is drawn from [d * (1 - jitter), d]
    max_failures: int = 5  # this many failures within window_s -> fatal
    window_s: float = 300.0


class FailureCounter:
    """Remembers recent failures of one child and turns them into a delay, or a verdict of fatal."""

    def __init__(self, policy: RestartPolicy, rng: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self.rng = rng
        self.failures: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self.failures and self.failures[0] <= now - self.policy.window_s:
            self.failures.popleft()

    def record(self, now: float) -> float | None:
        """Count a failure at ``now``; returns the delay before the next start, or None when fatal."""
        self._forget_old(now)
        self.failures.append(now)
        n = len(self.failures)
        if n >= self.policy.max_failures:
            return None
        return self.delay(n)

    def delay(self, n: int) -> float:
        """Delay after the n-th failure in the window: base * 2^(n-1), capped, less up to ``jitter`` of it."""
        p = self.policy
        ceiling: float = min(p.max_s, p.base_s * 2 ** min(n - 1, 60))
        return ceiling * (1.0 - p.jitter * self.rng())

    def recent(self, now: float) -> int:
        self._forget_old(now)
        return len(self.failures)
