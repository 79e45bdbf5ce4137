"""pytest fixtures. In a conftest:

    from tests.fake_comfyui.fixtures import fake_comfyui, fake_comfyui_factory  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import FakeComfyUI


@pytest.fixture
def fake_comfyui_factory(tmp_path: Path) -> Iterator[Callable[..., FakeComfyUI]]:
    """Start fakes on demand: `factory(delay_ms=100)`; each gets its own directories under tmp_path."""
    started: list[FakeComfyUI] = []

    def start(**knobs: Any) -> FakeComfyUI:
        fake = FakeComfyUI(tmp_path / f"comfyui{len(started)}", **knobs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_comfyui(fake_comfyui_factory: Callable[..., FakeComfyUI]) -> FakeComfyUI:
    """A running fake ComfyUI with default knobs (no artificial delay)."""
    return fake_comfyui_factory()
