"""``comfyui-worker http``: the HTTP transport on API_HOST:API_PORT (uvloop, httptools, own access log).

Slow clients are cut and connections bounded (``connections.py``); the open-files limit is raised first.

uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler that was installed before it;
ours only records it, so a requested stop ends with status 0 and a last ``http_stopped`` line.
"""

from __future__ import annotations

import argparse
import resource
import signal
from types import FrameType

import uvicorn

from config.keys import KeysFileError
from config.logging import configure, get_logger
from config.settings import Settings
from transports.http.access_log import AccessLog
from transports.http.app import create_app
from transports.http.connections import ConnectionGuard, Limits, effective_limit


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each connection is a descriptor); the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit may exceed the kernel's nr_open
            return soft
    return hard if hard != resource.RLIM_INFINITY else soft


def connection_guard(settings: Settings, open_files: int) -> ConnectionGuard:
    return ConnectionGuard(Limits(header_timeout_s=settings.http_header_timeout_s,
                                  body_timeout_s=settings.http_body_timeout_s,
                                  body_min_rate=settings.http_body_min_rate,
                                  max_connections=effective_limit(settings.http_max_connections, open_files)))


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("http", settings.comfy_log_level)
    log = get_logger()
    received: list[int] = []

    def record(signum: int, _: FrameType | None) -> None:
        received.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, record)
    guard = connection_guard(settings, raise_open_files_limit())
    log.info("http_starting", host=settings.api_host, port=settings.api_port,
             database_path=settings.sqlite_db_path, max_connections=guard.limits.max_connections)
    try:
        app = AccessLog(create_app(settings, freeze_gc=True))
    except KeysFileError as exc:
        log.error("keys_file_invalid", detail=str(exc))
        return 2
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, loop="uvloop",
                http=guard.protocol_class(), ws="none", lifespan="on", access_log=False, log_config=None,
                server_header=False, timeout_graceful_shutdown=10)
    log.info("http_stopped", signal=signal.Signals(received[0]).name if received else None)
    return 0
