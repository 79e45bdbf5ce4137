"""``python -m supervisor`` is ``comfyui-worker``: how the supervisor starts its own children."""

from supervisor.cli import entry_point

entry_point()
