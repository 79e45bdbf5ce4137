"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Store
from tests.supervisor.harness import RunningDaemon


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "db" / "jobs.db")


@pytest.fixture
def store(db_path: str) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    """Real daemons a test starts (tests.supervisor.harness), each killed at its end if still running."""
    started: list[RunningDaemon] = []
    yield started
    for d in started:
        d.close()
