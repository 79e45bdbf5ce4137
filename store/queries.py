"""Named SQL queries, loaded once from ``sql/queries.sql`` (``-- name: x`` starts query x)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def queries(file: str = "queries.sql") -> dict[str, str]:
    return parse(resources.files("store").joinpath("sql", file).read_text())


def migrations() -> list[tuple[int, str]]:
    """(version, script) of every migration, in order; version N leaves ``user_version = N``."""
    folder = resources.files("store").joinpath("sql", "migrations")
    scripts = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(int(p.name.split("_", 1)[0]), p.read_text()) for p in scripts]
