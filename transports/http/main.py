"""``comfyui-worker http``: the HTTP transport on API_HOST:API_PORT (uvloop, httptools, own access log).

uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler that was installed before it;
ours only records it, so a requested stop ends with status 0 and a last ``http_stopped`` line.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType

import uvicorn

from config.logging import configure, get_logger
from config.settings import Settings
from transports.http.access_log import AccessLog
from transports.http.app import create_app


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("http", settings.comfy_log_level)
    log = get_logger()
    received: list[int] = []

    def record(signum: int, _: FrameType | None) -> None:
        received.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, record)
    log.info("http_starting", host=settings.api_host, port=settings.api_port,
             database_path=settings.sqlite_db_path)
    app = AccessLog(create_app(settings, freeze_gc=True))
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_config=None, server_header=False,
                timeout_graceful_shutdown=10)
    log.info("http_stopped", signal=signal.Signals(received[0]).name if received else None)
    return 0
