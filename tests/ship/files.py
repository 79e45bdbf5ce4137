"""Reading the shipped files the tests check: the Dockerfile's instructions, README code blocks, .ci/run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.supervisor.harness import ROOT

INSTALL = "pip install uv && uv sync --frozen --no-dev"


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    out = []
    for line in joined:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def dockerfile_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.split("=", 1) for kind, rest in instructions if kind == "ARG" and "=" in rest)


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """ENV values, with ${ARG} references replaced by the ARG defaults."""
    args, env = dockerfile_args(instructions), {}
    for kind, rest in instructions:
        if kind == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), env.get(m.group(1), "")),
                                  value)
    return env


def code_lines(markdown: str) -> list[str]:
    """Every line inside fenced code blocks."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if inside:
            lines.append(line.strip())
    return lines


def ci_commands() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text()
    return [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]
