"""What an attempt's outcome leaves: delivered (2xx), given up (410, or the event is too old), or a retry after
exponential backoff with jitter, or after the receiver's ``Retry-After`` (bounded)."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable

import msgspec

from store import DeliveryState


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    base_s: float = 5.0  # wait after the first failed attempt
    max_s: float = 3600.0  # longest wait (and the cap of Retry-After)
    max_age_s: float = 86400.0  # an event not delivered this long after it happened is given up
    jitter: float = 0.5  # each wait is drawn from [w * (1 - jitter), w]


def backoff(policy: RetryPolicy, failures: int, rng: Callable[[], float] = random.random) -> float:
    """The wait after the n-th failed attempt: base * 2^(n-1), capped, less up to ``jitter`` of it."""
    ceiling: float = min(policy.max_s, policy.base_s * 2 ** min(failures - 1, 60))
    return ceiling * (1.0 - policy.jitter * rng())


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now) if when.tzinfo is not None else None


def decide(policy: RetryPolicy, *, status_code: int | None, retry_after_header: str | None, failures: int,
           created_at: float, now: float,
           rng: Callable[[], float] = random.random) -> tuple[DeliveryState, float | None]:
    """(state, next try) after an attempt; ``failures`` counts this one when it failed."""
    if status_code is not None and 200 <= status_code < 300:
        return DeliveryState.DELIVERED, None
    if status_code == 410:  # Gone: the receiver says never again
        return DeliveryState.FAILED, None
    wait = backoff(policy, failures, rng)
    asked = retry_after(retry_after_header, now) if status_code is not None else None
    if asked is not None:
        wait = min(max(asked, 0.0), policy.max_s)
    next_at = now + wait
    if next_at > created_at + policy.max_age_s:
        return DeliveryState.FAILED, None
    return DeliveryState.PENDING, next_at
