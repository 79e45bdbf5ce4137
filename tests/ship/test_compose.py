"""docker-compose.yml: the seed's HTTP service (store on a volume, ports, GPU) and a RunPod-style one."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import load
from tests.supervisor.harness import ROOT

yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in service["environment"])


def test_http_service_as_the_seed_shows_it(compose: dict[str, Any]) -> None:
    service = compose["services"]["comfyui-worker"]
    settings = load(env_of(service))
    assert settings.http_api_mode and settings.sqlite_db_path == "/data/comfyui_jobs.db"
    assert settings.api_port == 8000
    assert service["ports"] == ["8000:8000", "8188:8188"]
    assert "sqlite_data:/data" in service["volumes"] and "sqlite_data" in compose["volumes"]
    [device] = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_runpod_local_service(compose: dict[str, Any]) -> None:
    service = compose["services"]["runpod-local"]
    settings = load(env_of(service))
    assert not settings.http_api_mode and settings.serve_api_locally
    assert any(v.endswith(":/data") for v in service["volumes"])


def test_services_get_longer_to_stop_than_the_shutdown_grace(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        grace = load(env_of(service)).shutdown_grace_s
        assert int(service["stop_grace_period"].rstrip("s")) > grace
