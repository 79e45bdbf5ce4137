"""The type checker is part of the test command: a ``mypy --strict`` error fails the suite like a failing test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["supervisor", "transports", "executor", "forwarder", "store", "config"]


def test_mypy_strict_finds_nothing() -> None:
    # Settings (strict, per-module overrides) come from pyproject.toml; the cache is .mypy_cache (gitignored).
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *PACKAGES],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
