"""The command line: every command listed, and a child imports only its own command's code."""

from __future__ import annotations

import os
import subprocess
import sys

from supervisor.cli import COMMANDS

PROBE = """
import sys
from supervisor.cli import _parser
_parser({command!r}).parse_args([{command!r}] + {extra!r})
print(sorted(m for m in ("litestar", "runpod", "boto3", "uvicorn") if m in sys.modules))
"""


def _imported(command: str, extra: list[str] | None = None) -> str:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-c", PROBE.format(command=command, extra=extra or [])], env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_help_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "supervisor", "--help"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert all(name in out for name in COMMANDS)


def test_an_executor_child_does_not_import_the_transports_frameworks() -> None:
    assert _imported("executor") == "[]"


def test_the_http_command_imports_its_framework_only_when_chosen() -> None:
    assert "litestar" not in _imported("migrate") and "runpod" not in _imported("http")
