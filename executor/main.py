"""``comfyui-worker executor``: one executor against one ComfyUI, until SIGTERM/SIGINT (exit 0) or, with
REFRESH_WORKER=true, until its first finished job (exit 3)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

from config.logging import configure, get_logger
from config.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instance", type=int, default=0, help="ComfyUI instance index (default 0)")
    parser.add_argument("--comfyui-url", default=None,
                        help="ComfyUI base URL (default COMFYUI_URL, else http://127.0.0.1:COMFYUI_PORT+instance)")


def comfyui_url(settings: Settings, args: argparse.Namespace) -> str:
    default = f"http://127.0.0.1:{settings.comfyui_port + args.instance}"
    return str(args.comfyui_url or settings.comfyui_url or default)


def worker_id(settings: Settings) -> str:
    return settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"


def client_id(settings: Settings) -> str:
    """Stable for a worker id: a restarted executor recognises the prompts its crashed predecessor left."""
    return f"comfyui-worker-{worker_id(settings)}"


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from executor.loop import Executor  # after logging is configured
    from store import Store

    store = Store.from_settings(settings)
    executor = Executor(settings, store, comfyui_url=comfyui_url(settings, args),
                        worker_id=worker_id(settings),
                        client_id=client_id(settings), comfyui_component=f"comfyui-{args.instance}",
                        instance=args.instance)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, executor.stop)  # the handler only records the request
    try:
        return await executor.run()
    finally:
        store.close()


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("executor", settings.comfy_log_level, instance=args.instance)
    log = get_logger()
    log.info("executor_starting", comfyui_url=comfyui_url(settings, args), worker_id=worker_id(settings),
             pipeline_depth=1 if settings.refresh_worker else settings.pipeline_depth)
    code = asyncio.run(_serve(settings, args))
    log.info("executor_stopped", exit_code=code)
    return code
