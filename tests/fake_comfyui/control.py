"""Test-only control endpoints under /_fake/ (never answered by a real ComfyUI).

GET/POST /_fake/config   read / change knobs: {"delay_ms", "progress_steps", "history_delay_ms", "garble_path",
                         "garble_body", "ignore_interrupt", "oom_prompts", "vram_total_mb", "vram_per_prompt_mb",
                         "rss_per_prompt_mb"} (garble_*: a fault ComfyUI itself never shows, see execution.Config;
                         the memory knobs: memory.py)
POST /_fake/drop_sockets abort every websocket connection (no close frame)
POST /_fake/crash        die at once (os._exit when a separate process; in-process: stop serving)
POST /_fake/hang         {"seconds": N | null}: stop answering HTTP/WS and stop executing
POST /_fake/unhang       end a hang early
GET  /_fake/stats        prompt counters, ids, running / pending prompts; ``requests``: "METHOD /path" -> count
                         of every request to ComfyUI's own routes (route pattern, e.g. "GET /history/{prompt_id}")
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeComfyServer

PREFIX = "/_fake/"


def stats(server: FakeComfyServer) -> dict[str, Any]:
    running, pending = server.queue.current()
    return {
        **{k: (list(v) if isinstance(v, list) else v) for k, v in server.stats.items()},
        "requests": dict(server.requests),
        "running": [item[1] for item in running],
        "pending": [item[1] for item in pending],
        "queue_remaining": server.queue.tasks_remaining(),
        "websockets": sorted(server.hub.sockets),
        "hanging": server.gate.closed,
        "config": dataclasses.asdict(server.config),
    }


def update_config(server: FakeComfyServer, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - {f.name for f in dataclasses.fields(server.config)}
    if unknown:
        raise ValueError(f"unknown knobs: {sorted(unknown)}")
    for name, value in changes.items():
        current = getattr(server.config, name)
        setattr(server.config, name, type(current)(value))
    return dataclasses.asdict(server.config)


def add_routes(app: web.Application, server: FakeComfyServer) -> None:
    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(dataclasses.asdict(server.config))

    async def post_config(request: web.Request) -> web.Response:
        try:
            return web.json_response(update_config(server, await request.json()))
        except ValueError as ex:
            return web.json_response({"error": str(ex)}, status=400)

    async def drop_sockets(request: web.Request) -> web.Response:
        return web.json_response({"dropped": server.hub.drop_all()})

    async def crash(request: web.Request) -> web.Response:
        server.crash()
        if request.transport is not None:
            request.transport.abort()  # no answer: the process (or in-process server) is gone
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def hang(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        seconds = body.get("seconds")
        server.gate.close(None if seconds is None else float(seconds))
        return web.json_response({"hanging_for": seconds})

    async def unhang(request: web.Request) -> web.Response:
        server.gate.open()
        return web.json_response({"hanging": False})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats(server))

    app.router.add_get(PREFIX + "config", get_config)
    app.router.add_post(PREFIX + "config", post_config)
    app.router.add_post(PREFIX + "drop_sockets", drop_sockets)
    app.router.add_post(PREFIX + "crash", crash)
    app.router.add_post(PREFIX + "hang", hang)
    app.router.add_post(PREFIX + "unhang", unhang)
    app.router.add_get(PREFIX + "stats", get_stats)
