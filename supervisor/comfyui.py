"""ComfyUI as a child: its command line, folders and environment, and its readiness probe.

The probe (``GET /system_stats``) is the only piece of ComfyUI's protocol the supervisor speaks.
"""

from __future__ import annotations

import asyncio
import enum
import os
import shlex
import sys

from config.settings import Settings
from supervisor import http_probe, ports, secrets
from supervisor.process import ProcessSpec


def gpu_ids(settings: Settings) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each instance: COMFYUI_GPU_IDS, or 0..N-1."""
    if settings.comfyui_gpu_ids:
        ids = [x.strip() for x in settings.comfyui_gpu_ids.split(",") if x.strip()]
        if len(ids) < settings.comfyui_instances:
            raise ValueError(f"COMFYUI_GPU_IDS names {len(ids)} GPUs for "
                             f"{settings.comfyui_instances} instances")
        return ids
    return [str(i) for i in range(settings.comfyui_instances)]


def attached_urls(settings: Settings) -> list[str]:
    """COMFYUI_URL (a comma-separated list attaches several): ComfyUIs run by someone else."""
    assert settings.comfyui_url
    return [u.strip().rstrip("/") for u in settings.comfyui_url.split(",") if u.strip()]


def instance_dirs(settings: Settings, instance: int) -> dict[str, str]:
    """input, output and temp folders of one spawned instance, under DATA_DIR."""
    root = os.path.join(os.path.abspath(settings.data_dir), f"comfyui-{instance}")
    return {name: os.path.join(root, name) for name in ("input", "output", "temp")}


def url_of(settings: Settings, instance: int) -> str:
    return f"http://127.0.0.1:{settings.comfyui_port + instance}"


def comfyui_spec(settings: Settings, instance: int, gpu: str, environ: dict[str, str]) -> ProcessSpec:
    """How to start instance ``instance`` of ComfyUI from COMFYUI_PATH (its folders are created here)."""
    assert settings.comfyui_path
    path = os.path.abspath(settings.comfyui_path)
    dirs = instance_dirs(settings, instance)
    for folder in dirs.values():
        os.makedirs(folder, exist_ok=True)
    argv = [
        settings.comfyui_python or sys.executable, os.path.join(path, "main.py"),
        "--listen", "127.0.0.1", "--port", str(settings.comfyui_port + instance),
        "--input-directory", dirs["input"], "--output-directory", dirs["output"],
        "--temp-directory", dirs["temp"], "--disable-auto-launch",
        *shlex.split(settings.comfyui_args),
    ]
    env = {**secrets.environment("comfyui", environ), "CUDA_VISIBLE_DEVICES": gpu, "PYTHONUNBUFFERED": "1"}
    return ProcessSpec(name=f"comfyui-{instance}", kind="comfyui", instance=instance, argv=argv, env=env,
                       cwd=path, port=settings.comfyui_port + instance)


def port_problem(settings: Settings) -> str | None:
    """One line refusing to start when a spawned instance's port is already in use (naming who holds it)."""
    for instance in range(settings.comfyui_instances):
        what = f"COMFYUI_PORT={settings.comfyui_port}" + (f" (instance {instance})" if instance else "")
        if why := ports.refusal(settings.comfyui_port + instance, what):
            return why
    return None


async def probe(url: str, timeout_s: float) -> bool:
    """True when ComfyUI answers ``GET /system_stats`` with 200."""
    return await http_probe.get_status(url, "/system_stats", timeout_s) == 200


class Probe(enum.Enum):
    READY = "ready"
    NOT_READY = "not_ready"
    STRANGER = "stranger"  # the port is served by a process that is not our child: nothing is sent to it


async def probe_child(url: str, port: int | None, child: int | None,
                      timeout_s: float) -> tuple[Probe, ports.Owner | None]:
    """Probe a ComfyUI, first making sure the server on its port is ``child`` (or its descendant).

    Only a spawned ComfyUI (a port and a child pid) is checked; an attached one (COMFYUI_URL) is probed as is.
    Returns the verdict and who owns the port (None when not checked)."""
    owner = None
    if port is not None and child is not None:
        owner = await asyncio.to_thread(ports.owner, port, child)  # reading /proc/net/tcp costs ~10 ms
        if owner is ports.Owner.NOBODY:
            return Probe.NOT_READY, owner
        if owner is ports.Owner.STRANGER:
            return Probe.STRANGER, owner
    return (Probe.READY if await probe(url, timeout_s) else Probe.NOT_READY), owner
