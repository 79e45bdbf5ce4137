"""Restart policy: capped exponential backoff with jitter; fatal after too many failures in the window."""

from __future__ import annotations

import pytest

from supervisor.policy import FailureCounter, RestartPolicy


def test_backoff_doubles_per_failure_without_jitter() -> None:
    counter = FailureCounter(RestartPolicy(base_s=0.5, max_s=100, jitter=0.0, max_failures=99))
    assert [counter.record(float(t)) for t in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped() -> None:
    counter = FailureCounter(RestartPolicy(base_s=1, max_s=5, jitter=0.0, max_failures=99))
    assert [counter.record(float(t)) for t in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("draw", [0.0, 0.3, 0.999999])
def test_jitter_stays_between_half_the_delay_and_the_delay(draw: float) -> None:
    counter = FailureCounter(RestartPolicy(base_s=2, max_s=30, jitter=0.5, max_failures=99), rng=lambda: draw)
    for n in range(1, 10):
        ceiling = min(30, 2 * 2 ** (n - 1))
        assert ceiling * 0.5 <= counter.delay(n) <= ceiling


def test_jitter_never_exceeds_the_cap() -> None:
    counter = FailureCounter(RestartPolicy(base_s=1, max_s=3, jitter=0.5, max_failures=99), rng=lambda: 0.0)
    assert counter.delay(50) == 3


def test_fatal_after_max_failures_within_the_window() -> None:
    counter = FailureCounter(RestartPolicy(max_failures=3, window_s=60, jitter=0.0))
    assert counter.record(0.0) is not None
    assert counter.record(10.0) is not None
    assert counter.record(20.0) is None


def test_failures_older_than_the_window_are_forgotten() -> None:
    counter = FailureCounter(RestartPolicy(max_failures=3, window_s=60, jitter=0.0, base_s=1))
    counter.record(0.0)
    counter.record(10.0)
    assert counter.record(100.0) == 1.0  # the two old ones left the window: first failure again
    assert counter.recent(100.0) == 1
