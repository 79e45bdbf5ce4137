"""A faithful fake of ComfyUI 0.3.64's HTTP + websocket protocol, for tests (see data/traces)."""

from .execution import Config
from .harness import FakeComfyUI

__all__ = ["Config", "FakeComfyUI"]
