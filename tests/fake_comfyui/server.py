"""The fake ComfyUI aiohttp application: HTTP routes, /ws, the prompt worker.

Route behaviour is transcribed from ComfyUI 0.3.64's server.py / main.py; traces under data/traces are
the specification. Every route is served with and without the /api prefix (trace 37).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from . import control, files
from .catalog import DATA_DIR, catalog, object_info
from .execution import Config, Executor
from .nodes import Dirs
from .prompt_queue import PromptQueue
from .validation import validate_prompt

log = logging.getLogger("fake_comfyui")

SERVER_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104857600}
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
BINARY_TEXT = 3
_STATIC = json.loads((DATA_DIR / "traces" / "41_misc_gets.json").read_text())["responses"]


class Gate:
    """Open normally; closed while the fake 'hangs' (every request, socket write and node step waits)."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self) -> None:
        await self._open.wait()

    @property
    def closed(self) -> bool:
        return not self._open.is_set()

    def close(self, seconds: float | None) -> None:
        self.open()
        self._open.clear()
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self.open)

    def open(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._open.set()


class Hub:
    """Websocket clients by sid and an ordered outbox, like PromptServer.send_sync + publish_loop."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.sockets: dict[str, tuple[web.WebSocketResponse, web.Request]] = {}
        self.outbox: asyncio.Queue[tuple[Any, Any, str | None]] = asyncio.Queue()

    def send(self, event: Any, data: Any, sid: str | None) -> None:
        self.outbox.put_nowait((event, data, sid))

    def send_text(self, node_id: str, text: str) -> None:
        node = node_id.encode()
        self.send(BINARY_TEXT, struct.pack(">I", len(node)) + node + text.encode(), None)

    async def publish_forever(self) -> None:
        while True:
            event, data, sid = await self.outbox.get()
            await self.gate.wait()
            if sid is None:
                targets = [ws for ws, _ in self.sockets.values()]
            else:
                targets = [self.sockets[sid][0]] if sid in self.sockets else []
            for ws in targets:
                await self.deliver(ws, event, data)

    @staticmethod
    async def deliver(ws: web.WebSocketResponse, event: Any, data: Any) -> None:
        try:
            if isinstance(data, bytes):
                await ws.send_bytes(struct.pack(">I", event) + data)
            else:
                await ws.send_str(json.dumps({"type": event, "data": data}))
        except (ConnectionError, RuntimeError):
            pass  # the socket went away meanwhile; ComfyUI drops the message too

    def drop_all(self) -> int:
        """Abort every websocket's TCP connection without a close frame."""
        dropped = list(self.sockets.values())
        for _, request in dropped:
            if request.transport is not None:
                request.transport.abort()
        return len(dropped)


class FakeComfyServer:
    def __init__(self, dirs: Dirs, config: Config, crash: Callable[[], None]) -> None:
        self.dirs = dirs
        self.config = config
        self.crash = crash
        self.classes = catalog()
        self.gate = Gate()
        self.hub = Hub(self.gate)
        self.queue = PromptQueue(self.queue_updated)
        self.executor = Executor(self.classes, dirs, config, self.hub, self.gate.wait)
        self.number = 0
        self.stats: dict[str, Any] = {"received": 0, "rejected": 0, "executed": 0, "interrupts": 0,
                                      "uploads": 0, "prompt_ids": [], "executed_ids": []}
        self.requests: dict[str, int] = {}  # "GET /view" -> how many were received (/api prefix folded in)
        self.app = self._build_app()

    # --- plumbing ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count_middleware, self._hang_middleware,
                                           self._garble_middleware],
                              client_max_size=SERVER_FEATURES["max_upload_size"])
        routes = [
            ("GET", "/ws", self.websocket), ("GET", "/system_stats", self.system_stats),
            ("GET", "/object_info", self.get_object_info),
            ("GET", "/object_info/{node}", self.get_object_info),
            ("GET", "/queue", self.get_queue), ("POST", "/queue", self.post_queue),
            ("GET", "/prompt", self.get_prompt), ("POST", "/prompt", self.post_prompt),
            ("GET", "/history", self.get_history), ("GET", "/history/{prompt_id}", self.get_history),
            ("POST", "/history", self.post_history), ("POST", "/interrupt", self.post_interrupt),
            ("POST", "/free", self.post_free), ("GET", "/features", self.features),
            ("POST", "/upload/image", self.upload_image), ("GET", "/view", self.view),
            ("GET", "/embeddings", self.static), ("GET", "/models", self.static),
            ("GET", "/models/{folder}", self.static), ("GET", "/extensions", self.static),
        ]
        for prefix in ("", "/api"):
            for method, path, handler in routes:
                app.router.add_route(method, prefix + path, handler)
        control.add_routes(app, self)
        app.on_startup.append(self._start_tasks)
        app.on_shutdown.append(self._stop_tasks)
        return app

    @web.middleware
    async def _count_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if not request.path.startswith(control.PREFIX):
            route = request.match_info.route.resource
            path = route.canonical if route is not None else request.path
            key = f"{request.method} {path.removeprefix('/api')}"
            self.requests[key] = self.requests.get(key, 0) + 1
        return await handler(request)

    @web.middleware
    async def _hang_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if not request.path.startswith(control.PREFIX):
            await self.gate.wait()
        return await handler(request)

    @web.middleware
    async def _garble_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        response = await handler(request)
        path = request.path.removeprefix("/api")
        garble = self.config.garble_path
        if not garble or not path.startswith(garble) or path.startswith(control.PREFIX) or path == "/ws":
            return response
        body = self.config.garble_body
        json_like = body.lstrip()[:1] in ("{", "[")
        return web.Response(status=200, text=body, content_type="application/json" if json_like else "text/html")

    async def _start_tasks(self, app: web.Application) -> None:
        self.tasks = [asyncio.create_task(self.hub.publish_forever()), asyncio.create_task(self.worker())]

    async def _stop_tasks(self, app: web.Application) -> None:
        self.gate.open()
        self.hub.drop_all()
        for task in self.tasks:
            task.cancel()

    def queue_updated(self) -> None:
        self.hub.send("status", {"status": self.queue_info()}, None)

    def queue_info(self) -> dict:
        return {"exec_info": {"queue_remaining": self.queue.tasks_remaining()}}

    # --- worker -----------------------------------------------------------------------------------

    async def worker(self) -> None:
        while True:
            await self.queue.wait()
            flags = self.queue.take_flags()  # main.py's prompt_worker: unload_models defaults to free_memory
            if flags.get("unload_models", flags.get("free_memory", False)):
                self.executor.memory.unload_all_models()
            if flags.get("free_memory"):
                self.executor.reset_caches()
            taken = self.queue.get()
            if taken is not None:
                await self.run_item(*taken)

    async def run_item(self, seq: int, item: tuple) -> None:
        started = time.perf_counter()
        _, prompt_id, prompt, extra_data, outputs, sensitive = item
        extra_data = {**extra_data, **sensitive}
        success, messages, result = await self.executor.execute(prompt, prompt_id, extra_data, outputs)
        await asyncio.sleep(self.config.history_delay_ms / 1000)
        status = {"status_str": "success" if success else "error", "completed": success, "messages": messages}
        self.queue.task_done(seq, result, status)
        self.executor.memory.after_prompt()
        self.stats["executed"] += 1
        self.stats["executed_ids"].append(prompt_id)
        if self.executor.client_id is not None:
            self.hub.send("executing", {"node": None, "prompt_id": prompt_id}, self.executor.client_id)
        log.info("Prompt executed in %.2f seconds", time.perf_counter() - started)

    # --- websocket --------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self.hub.sockets[sid] = (ws, request)
        try:
            await Hub.deliver(ws, "status", {"status": self.queue_info(), "sid": sid})
            if self.executor.client_id == sid and self.executor.last_node_id is not None:
                await Hub.deliver(ws, "executing", {"node": self.executor.last_node_id})
            first_message = True
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._client_message(ws, message.data, first_message)
                    first_message = False
        finally:
            if self.hub.sockets.get(sid, (None,))[0] is ws:
                del self.hub.sockets[sid]
        return ws

    async def _client_message(self, ws: web.WebSocketResponse, text: str, first: bool) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return
        if first and isinstance(data, dict) and data.get("type") == "feature_flags":
            await Hub.deliver(ws, "feature_flags", SERVER_FEATURES)

    # --- prompts ----------------------------------------------------------------------------------

    async def post_prompt(self, request: web.Request) -> web.Response:
        log.info("got prompt")
        body = await request.json()
        if "number" in body:
            number = float(body["number"])
        else:
            number = -self.number if body.get("front") else self.number
            self.number += 1
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided",
                     "extra_info": {}}
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        valid, error, outputs, node_errors = validate_prompt(self.classes, self.dirs, prompt,
                                                             body.get("partial_execution_targets"))
        extra_data = body.get("extra_data", {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not valid:
            self.stats["rejected"] += 1
            log.warning("invalid prompt: %s", error)
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        sensitive = {key: extra_data.pop(key) for key in SENSITIVE_EXTRA_DATA_KEYS if key in extra_data}
        self.queue.put((number, prompt_id, prompt, extra_data, outputs, sensitive))
        self.stats["received"] += 1
        self.stats["prompt_ids"].append(prompt_id)
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": node_errors})

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue_info())

    async def get_queue(self, request: web.Request) -> web.Response:
        running, pending = self.queue.current()
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.queue.wipe()
        for prompt_id in body.get("delete", []):
            self.queue.delete(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        prompt_id = body.get("prompt_id")
        self.stats["interrupts"] += 1
        if not prompt_id or prompt_id in self.queue.running_ids():
            self.executor.interrupt_requested = True
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        body = await request.json()
        for flag in ("unload_models", "free_memory"):
            if body.get(flag, False):
                self.queue.set_flag(flag, body[flag])
        return web.Response(status=200)

    # --- history ----------------------------------------------------------------------------------

    async def get_history(self, request: web.Request) -> web.Response:
        if "prompt_id" in request.match_info:
            return web.json_response(self.queue.get_history(request.match_info["prompt_id"]))
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query.get("offset", -1))
        return web.json_response(self.queue.get_history(max_items=max_items, offset=offset))

    async def post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.queue.wipe_history()
        for prompt_id in body.get("delete", []):
            self.queue.delete_history(prompt_id)
        return web.Response(status=200)

    # --- files ------------------------------------------------------------------------------------

    async def upload_image(self, request: web.Request) -> web.Response:
        response = await files.upload_image(request, self.dirs)
        self.stats["uploads"] += response.status == 200
        return response

    async def view(self, request: web.Request) -> web.StreamResponse:
        return await files.view(request, self.dirs)

    # --- static-ish GETs --------------------------------------------------------------------------

    async def system_stats(self, request: web.Request) -> web.Response:
        stats = json.loads((DATA_DIR / "system_stats.json").read_text())
        stats["system"]["argv"] = ["main.py", *sys.argv[1:]]
        stats["devices"] = self.executor.memory.devices(stats["devices"])
        return web.json_response(stats)

    async def get_object_info(self, request: web.Request) -> web.Response:
        info = object_info(self.dirs)
        node = request.match_info.get("node")
        if node is None:
            return web.json_response(info)
        return web.json_response({node: info[node]} if node in info else {})

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(SERVER_FEATURES)

    async def static(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/api")
        if path in _STATIC:
            return web.json_response(_STATIC[path]["body"])
        return web.json_response([])
