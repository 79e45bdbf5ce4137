"""The daemon's own children (executors, the transport): their command lines and environments."""

from __future__ import annotations

import socket
import sys

from config.settings import Settings
from supervisor import secrets
from supervisor.process import ProcessSpec

EXIT_REFRESH = 3  # an executor asks for its ComfyUI to be restarted (REFRESH_WORKER)
EXIT_RESTART = 4  # an executor's watchdog asks for its ComfyUI to be restarted (stuck, silent, memory)


def command(*args: str) -> list[str]:
    """``comfyui-worker <args>`` run by this interpreter."""
    return [sys.executable, "-m", "supervisor", *args]


def worker_id(settings: Settings, instance: int) -> str:
    """Stable per host and instance, so the jobs of a dead executor can be recovered by id after any crash."""
    return f"{settings.worker_id or socket.gethostname()}-{instance}"


def executor_spec(settings: Settings, instance: int, url: str, dirs: dict[str, str] | None,
                  environ: dict[str, str]) -> ProcessSpec:
    env = {**secrets.environment("executor", environ), "WORKER_ID": worker_id(settings, instance)}
    if dirs:  # a spawned ComfyUI: its folders are local
        env |= {"COMFYUI_INPUT_DIR": dirs["input"], "COMFYUI_OUTPUT_DIR": dirs["output"]}
    return ProcessSpec(name=f"executor-{instance}", kind="executor", instance=instance,
                       argv=command("executor", "--instance", str(instance), "--comfyui-url", url), env=env)


def transport_spec(settings: Settings, environ: dict[str, str],
                   commands: dict[str, object]) -> ProcessSpec | None:
    """The transport of this mode, or None when its command does not exist.

    Off the RunPod platform and without SERVE_API_LOCALLY, the RunPod SDK runs its test input once and
    exits (worker-comfyui's behaviour): the daemon then stops with the transport's verdict."""
    kind = "http" if settings.http_api_mode else "runpod"
    if kind not in commands:
        return None
    oneshot = kind == "runpod" and not settings.serve_api_locally and "RUNPOD_WEBHOOK_GET_JOB" not in environ
    return ProcessSpec(name=kind, kind=kind, argv=command(kind), env=secrets.environment(kind, environ),
                       oneshot=oneshot)


def webhooks_spec(settings: Settings, environ: dict[str, str], commands: dict[str, object]) -> ProcessSpec | None:
    """The webhook delivery process: in HTTP mode, always (any job may name a webhook); None in RunPod mode,
    where the platform delivers RunPod's own webhooks and a request has no webhook field."""
    if not settings.http_api_mode or "webhooks" not in commands:
        return None
    return ProcessSpec(name="webhooks", kind="webhooks", argv=command("webhooks"),
                       env=secrets.environment("webhooks", environ))


def forwarder_spec(settings: Settings, environ: dict[str, str]) -> ProcessSpec | None:
    """The overflow forwarder, only when RUNPOD_OVERFLOW_ENDPOINT_ID is set; its worker id is stable per host so
    a restarted one resumes the jobs its predecessor left on RunPod."""
    if settings.runpod_overflow_endpoint_id is None:
        return None
    env = {**secrets.environment("forwarder", environ),
           "WORKER_ID": f"{settings.worker_id or socket.gethostname()}-runpod"}
    return ProcessSpec(name="forwarder", kind="forwarder", argv=command("forwarder"), env=env)
