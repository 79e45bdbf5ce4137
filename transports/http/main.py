"""``comfyui-worker http``: the HTTP transport on API_HOST:API_PORT (uvloop, httptools, own access log)."""

from __future__ import annotations

import argparse

import uvicorn

from config.logging import configure, get_logger
from config.settings import Settings
from transports.http.access_log import AccessLog
from transports.http.app import create_app


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("http", settings.comfy_log_level)
    get_logger().info("http_starting", host=settings.api_host, port=settings.api_port,
                      database_path=settings.sqlite_db_path)
    app = AccessLog(create_app(settings))
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, loop="uvloop", http="httptools",
                lifespan="on", access_log=False, log_config=None, server_header=False,
                timeout_graceful_shutdown=10)
    get_logger().info("http_stopped")
    return 0
