"""Named SQL queries, loaded once from ``sql/queries.sql`` (``-- name: x`` starts query x).

The files are read next to this module (the package is always installed as files): ``importlib.resources``
would add about 1.5 MB (zipfile, tempfile, pathlib) to every process.
"""

from __future__ import annotations

import os
import re
from functools import cache

_SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def queries(file: str = "queries.sql") -> dict[str, str]:
    with open(os.path.join(_SQL, file), encoding="utf-8") as f:
        return parse(f.read())


def migrations() -> list[tuple[int, str]]:
    """(version, script) of every migration, in order; version N leaves ``user_version = N``."""
    folder = os.path.join(_SQL, "migrations")
    found = []
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".sql")):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            found.append((int(name.split("_", 1)[0]), f.read()))
    return found
