"""README.md stays true: its settings table, its install and test commands, the commands it names."""

from __future__ import annotations

import re
import subprocess
import sys

from config import readme_table
from supervisor.cli import COMMANDS
from tests.ship.files import INSTALL, ci_commands, code_lines, dockerfile_instructions
from tests.supervisor.harness import ROOT

README = (ROOT / "README.md").read_text()
START = "pip install uv && uv sync --frozen --no-dev && HTTP_API_MODE=true COMFYUI_PATH=/path/to/ComfyUI " \
        "uv run --no-dev comfyui-worker run"
TEST = "uv run --frozen pytest"


def test_settings_table_is_the_generated_one() -> None:
    assert readme_table.current(README) == readme_table.block()


def test_every_setting_is_in_the_table() -> None:
    table = readme_table.current(README)
    from config.settings import env_name, fields

    assert all(f"| `{env_name(f.name)}` |" in table for f in fields())


def test_install_and_start_command_is_there_and_installs_as_the_dockerfile_does() -> None:
    lines = code_lines(README)
    assert START in lines
    assert START.startswith(INSTALL + " && ")
    assert [rest for kind, rest in dockerfile_instructions() if kind == "RUN"] == [INSTALL]


def test_test_command_is_what_ci_runs() -> None:
    assert TEST in code_lines(README)
    assert ci_commands()[-1] == TEST


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    named = set(re.findall(r"comfyui-worker ([a-z]+)", "\n".join(code_lines(README))))
    assert named <= set(COMMANDS), named - set(COMMANDS)
    for command in COMMANDS:
        assert f"`{command}" in README, command


def test_every_route_of_the_app_is_documented() -> None:
    from config.settings import Settings
    from transports.http.app import create_app

    app = create_app(Settings(sqlite_db_path=str(ROOT / "unused.db")))
    paths = {route.path for route in app.routes if not route.path.startswith("/schema")}
    for path in paths:
        shown = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
        assert shown in README, shown


def test_the_generator_prints_the_table() -> None:
    out = subprocess.run([sys.executable, "-m", "config.readme_table"], capture_output=True, text=True,
                         cwd=str(ROOT), check=True).stdout
    assert out.strip() == readme_table.table()
