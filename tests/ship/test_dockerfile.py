"""The Dockerfile, read (no Docker engine here): base, install, settings, port, healthcheck, entry point."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from config.settings import Settings, env_name, fields, load
from tests.ship.files import INSTALL, dockerfile_args, dockerfile_env, dockerfile_instructions
from tests.supervisor.harness import ROOT

SETTING_NAMES = {env_name(f.name) for f in fields()}


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions()


def test_base_is_a_build_argument_defaulting_to_a_worker_comfyui_base_release(instructions) -> None:
    assert instructions[0][0] == "ARG" and instructions[0][1].startswith("BASE_IMAGE=")
    base = dockerfile_args(instructions)["BASE_IMAGE"]
    assert re.fullmatch(r"runpod/worker-comfyui:\d+\.\d+\.\d+-base", base)
    assert [rest for kind, rest in instructions if kind == "FROM"] == ["${BASE_IMAGE}"]


def test_the_only_command_run_is_the_readme_install(instructions) -> None:
    assert [rest for kind, rest in instructions if kind == "RUN"] == [INSTALL]
    workdirs = [rest for kind, rest in instructions if kind == "WORKDIR"]
    assert workdirs == ["/app"] and ("COPY", ". /app") in instructions


def test_every_env_naming_a_setting_parses_and_the_store_is_on_the_data_volume(instructions) -> None:
    env = dockerfile_env(instructions)
    ours = {k: v for k, v in env.items() if k in SETTING_NAMES}
    settings = load(ours)  # raises SettingsError naming the variable on a bad value
    assert settings.sqlite_db_path == "/data/comfyui_jobs.db"
    assert settings.data_dir.startswith("/data/")
    assert settings.comfyui_path == "/comfyui" and settings.comfyui_python == "/opt/venv/bin/python"
    assert ("VOLUME", '["/data"]') in instructions
    assert set(env) - SETTING_NAMES <= {"PYTHONUNBUFFERED", "UV_COMPILE_BYTECODE", "UV_LINK_MODE",
                                        "UV_NO_CACHE"}


def test_comfyui_gets_the_network_volume_model_paths(instructions) -> None:
    args = load(dockerfile_env(instructions)).comfyui_args.split()
    config = args[args.index("--extra-model-paths-config") + 1]
    assert config == "/app/config/extra_model_paths.yaml"
    assert (ROOT / "config" / "extra_model_paths.yaml").is_file()


def test_model_paths_cover_current_comfyui_folders_under_runpod_volume() -> None:
    yaml = pytest.importorskip("yaml")
    [section] = yaml.safe_load((ROOT / "config" / "extra_model_paths.yaml").read_text()).values()
    assert section["base_path"] == "/runpod-volume"
    for folder in ("checkpoints", "diffusion_models", "unet", "text_encoders", "clip", "clip_vision", "vae",
                   "loras", "controlnet", "upscale_models", "embeddings"):
        assert section[folder] == f"models/{folder}/"


def test_port_healthcheck_and_entry_point(instructions) -> None:
    assert [rest for kind, rest in instructions if kind == "EXPOSE"] == [str(Settings().api_port)]
    [health] = [rest for kind, rest in instructions if kind == "HEALTHCHECK"]
    assert "/health'" in health and "API_PORT" in health
    [entry] = [json.loads(rest) for kind, rest in instructions if kind == "ENTRYPOINT"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == ["/app/.venv/bin/comfyui-worker", "run"] and "comfyui-worker" in scripts
    assert instructions[-1] == ("CMD", "[]")  # the base's CMD must not reach the entry point as arguments


def test_health_route_exists_and_is_open() -> None:
    from transports.http.controllers.system import SystemController

    handler = SystemController.health
    assert handler.paths == {"/health"} and handler.opt.get("public") is True


def test_dockerignore_keeps_what_the_install_needs() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("pyproject.toml", "uv.lock", "README.md", "config", "store", "supervisor", "transports",
                   "executor"):
        assert needed not in ignored
