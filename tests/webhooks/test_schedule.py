"""The retry schedule: exponential backoff with jitter, capped; Retry-After honoured within the cap; 2xx and
410 end a delivery; an event older than the maximum age is given up."""

from __future__ import annotations

import email.utils

from store import DeliveryState
from transports.webhooks.schedule import RetryPolicy, backoff, decide, retry_after

P = RetryPolicy(base_s=5, max_s=3600, max_age_s=86400, jitter=0.5)


def test_backoff_doubles_with_jitter_and_caps() -> None:
    assert [backoff(P, n, lambda: 0.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert [backoff(P, n, lambda: 1.0) for n in (1, 2)] == [2.5, 5]
    assert backoff(P, 40, lambda: 0.0) == 3600


def test_retry_after_seconds_and_dates() -> None:
    assert retry_after("7", 0.0) == 7.0
    when = email.utils.formatdate(1_000_100.0, usegmt=True)
    assert retry_after(when, 1_000_000.0) == 100.0
    assert retry_after("soon", 0.0) is None and retry_after(None, 0.0) is None


def test_outcomes() -> None:
    common = {"failures": 1, "created_at": 0.0, "now": 10.0, "rng": lambda: 0.0}
    assert decide(P, status_code=204, retry_after_header=None, **common) == (DeliveryState.DELIVERED, None)
    assert decide(P, status_code=410, retry_after_header=None, **common) == (DeliveryState.FAILED, None)
    assert decide(P, status_code=500, retry_after_header=None, **common) == (DeliveryState.PENDING, 15.0)
    assert decide(P, status_code=301, retry_after_header=None, **common) == (DeliveryState.PENDING, 15.0)
    assert decide(P, status_code=None, retry_after_header=None, **common) == (DeliveryState.PENDING, 15.0)
    assert decide(P, status_code=429, retry_after_header="60", **common) == (DeliveryState.PENDING, 70.0)
    assert decide(P, status_code=503, retry_after_header="999999", **common) == (DeliveryState.PENDING, 3610.0)
    late = {**common, "now": 86_399.0}
    assert decide(P, status_code=500, retry_after_header=None, **late) == (DeliveryState.FAILED, None)
