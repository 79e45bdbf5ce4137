"""Wiring to the runpod SDK: its command-line arguments, its config dict, and its logs made ours.

Callers import ``runpod`` themselves (only ``comfyui-worker runpod`` does); this module never imports it at
module level.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

from config.settings import Settings
from transports.runpod.redact import redact

_SDK_LEVEL = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "ERROR"}
_OUR_LEVEL = {"TRACE": "debug", "DEBUG": "debug", "INFO": "info", "TIP": "info", "WARN": "warning",
              "ERROR": "error"}
_MAX_MESSAGE = 4096  # as the SDK cuts its own (its debug lines hold whole results)


def import_runpod() -> Any:
    """``import runpod``, without the SSH tools of its command line (paramiko, cryptography, invoke: ~15 MB).

    The package's ``__init__`` needs only ``runpod.cli.groups.config.functions`` (credentials) from its CLI,
    but ``runpod/cli/__init__.py`` imports the CLI's ssh group. ``runpod.cli`` is registered as a package whose
    ``__init__`` is not run, so only the config group loads. With another layout, runpod is imported as is."""
    if "runpod" not in sys.modules and "runpod.cli" not in sys.modules:
        spec = importlib.util.find_spec("runpod")  # a top-level spec: nothing is run
        folders = list(spec.submodule_search_locations or []) if spec else []
        init = os.path.join(folders[0], "cli", "__init__.py") if folders else ""
        if os.path.isfile(init):
            cli = importlib.util.spec_from_file_location("runpod.cli", init,
                                                         submodule_search_locations=[os.path.dirname(init)])
            if cli is not None:
                sys.modules["runpod.cli"] = importlib.util.module_from_spec(cli)
    with warnings.catch_warnings():  # requests' charset guessing is hidden (config/lean.py): UTF-8 it is
        warnings.filterwarnings("ignore", message="Unable to find acceptable character detection")
        import runpod
    return runpod


def job_capacity(settings: Settings) -> int:
    """Jobs RunPod may hand this worker at once: what the executors keep queued in ComfyUI.

    ``pipeline_depth`` per ComfyUI instance (1 with REFRESH_WORKER, as the executor does), so the next prompt
    is already in ComfyUI's queue while one runs."""
    if settings.comfyui_url:
        instances = len([url for url in settings.comfyui_url.split(",") if url.strip()])
    else:
        instances = settings.comfyui_instances
    return (1 if settings.refresh_worker else settings.pipeline_depth) * max(instances, 1)


def mode(settings: Settings, test_input: str | None) -> str:
    """The SDK mode ``start`` will pick (see ``runpod.serverless.start`` and ``worker._is_local``)."""
    if settings.serve_api_locally:
        return "local_api"
    if test_input or os.environ.get("RUNPOD_WEBHOOK_GET_JOB") is None:
        return "test_input"  # the SDK runs --test_input or ./test_input.json once, then exits
    return "platform"


def argv(settings: Settings, test_input: str | None = None) -> list[str]:
    """The SDK reads its options from ``sys.argv``: ours, from the settings."""
    args = ["--rp_log_level", _SDK_LEVEL[settings.comfy_log_level]]
    if settings.serve_api_locally:
        args += ["--rp_serve_api", "--rp_api_host", settings.api_host,
                 "--rp_api_port", str(settings.api_port)]
    if test_input:
        args += ["--test_input", test_input]
    return args


def config(handler: Callable[..., Any], settings: Settings) -> dict[str, Any]:
    """``runpod.serverless.start``'s config: our handler, and a constant concurrency (see job_capacity)."""
    capacity = job_capacity(settings)
    return {"handler": handler, "concurrency_modifier": lambda _current: capacity}


def progress_sink(runpod: Any) -> Callable[[dict[str, Any], dict[str, Any]], None] | None:
    """``progress_update`` where it reaches someone: it POSTs to RUNPOD_WEBHOOK_POST_OUTPUT, which only the
    platform (or a test) sets; without it every update would only log a failed request."""
    if not os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        return None
    return runpod.serverless.progress_update  # type: ignore[no-any-return]


def adopt_logs(log: Any) -> None:
    """Every line the SDK prints becomes one of our JSON log lines.

    Its logger (a singleton printing ``LEVEL  | message``) logs through ours, as ``runpod_sdk_log``; anything
    else printed (its start banner, uvicorn's default handlers in local-API mode) as ``runpod_sdk_output``.
    Neither keeps a job's payload (see ``redact``).
    Call after ``config.logging.configure``, which holds on to the real stdout."""
    from runpod.serverless.modules.rp_logger import LOG_LEVELS, RunPodLogger

    sdk_logger = RunPodLogger()
    sdk_logger.log = emitter(log, sdk_logger, LOG_LEVELS)
    sys.stdout = _LinesToLog(log, "stdout")
    sys.stderr = _LinesToLog(log, "stderr")


def emitter(log: Any, sdk_logger: Any, levels: list[str]) -> Callable[..., None]:
    """``RunPodLogger.log`` through our log: messages below the SDK's level are dropped first, as its own
    ``log`` does (a DEBUG message holding a whole job output is then neither copied nor redacted)."""

    def emit(message: Any, message_level: str = "INFO", job_id: str | None = None) -> None:
        if not _wanted(levels, sdk_logger.level, message_level):
            return
        method = getattr(log, _OUR_LEVEL.get(message_level, "info"))
        method("runpod_sdk_log", message=redact(str(message))[:_MAX_MESSAGE], runpod_job_id=job_id)

    return emit


def _wanted(levels: list[str], level: str, message_level: str) -> bool:
    """The SDK's level check (``RunPodLogger.log``): its level or above; TIP always; nothing at NOTSET."""
    if level == "NOTSET":
        return False
    if message_level == "TIP" or level not in levels or message_level not in levels:
        return True
    return levels.index(level) <= levels.index(message_level)


class _LinesToLog(io.TextIOBase):
    """A text stream whose every line is logged as ``runpod_sdk_output``."""

    def __init__(self, log: Any, stream: str) -> None:
        self.log, self.stream, self.pending = log, stream, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.log.info("runpod_sdk_output", line=redact(line)[:_MAX_MESSAGE], stream=self.stream)
        return len(text)

    def flush(self) -> None:
        pass
