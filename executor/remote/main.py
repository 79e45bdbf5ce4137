"""``comfyui-worker forwarder``: run the jobs the overflow policy picks on the RunPod endpoint
RUNPOD_OVERFLOW_ENDPOINT_ID, until SIGTERM/SIGINT (exit 0). The supervisor starts it only when that is set."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

from config.logging import configure, get_logger
from config.settings import Settings

EXIT_USAGE = 2


def worker_id(settings: Settings) -> str:
    """Stable per host: a restarted forwarder finds the jobs its predecessor left on RunPod by this id."""
    return os.environ.get("WORKER_ID") or f"{settings.worker_id or socket.gethostname()}-runpod"


async def _serve(settings: Settings, endpoint_id: str, log: object) -> int:
    from executor.remote.api import RunPodApi
    from executor.remote.loop import Forwarder
    from store import Store

    store = Store.from_settings(settings)
    api = RunPodApi(settings.runpod_overflow_base_url, endpoint_id, settings.runpod_api_key,
                    timeout_s=settings.runpod_overflow_http_timeout_s)
    forwarder = Forwarder(settings, store, api, worker_id=worker_id(settings), log=log)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, forwarder.stop)  # the handler only records the request
    try:
        return await forwarder.run()
    finally:
        store.close()


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("forwarder", settings.comfy_log_level)
    log = get_logger(worker_id=worker_id(settings))
    endpoint_id = settings.runpod_overflow_endpoint_id
    if endpoint_id is None:
        log.error("forwarder_not_configured", reason="RUNPOD_OVERFLOW_ENDPOINT_ID is not set")
        return EXIT_USAGE
    log.info("forwarder_starting", endpoint_id=endpoint_id, base_url=settings.runpod_overflow_base_url,
             queue_depth=settings.runpod_overflow_queue_depth, wait_s=settings.runpod_overflow_wait_s,
             max_jobs=settings.runpod_overflow_max_jobs, api_key_set=settings.runpod_api_key is not None)
    code = asyncio.run(_serve(settings, endpoint_id, log))
    log.info("forwarder_stopped", exit_code=code)
    return code
