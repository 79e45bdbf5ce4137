"""Run the fake in-process: its own event loop in a background thread, a free loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web

from . import control
from .execution import Config
from .nodes import Dirs
from .server import FakeComfyServer


class FakeComfyUI:
    """A fake ComfyUI server for tests.

    with FakeComfyUI(tmp_path, delay_ms=50) as comfy:   # or `async with`
        httpx.get(comfy.url + "/queue")
    """

    def __init__(self, base_dir: Path | str, *, host: str = "127.0.0.1", port: int = 0, **knobs: Any) -> None:
        base = Path(base_dir).resolve()
        self.dirs = Dirs(base / "input", base / "output", base / "temp")
        self.config = Config(**knobs)
        self.host = host
        self.port = port
        self.server: FakeComfyServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-comfyui", daemon=True)
        self._runner: web.AppRunner | None = None

    # --- public API -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def input_dir(self) -> Path:
        return self.dirs.input

    @property
    def output_dir(self) -> Path:
        return self.dirs.output

    @property
    def temp_dir(self) -> Path:
        return self.dirs.temp

    @property
    def running(self) -> bool:
        return self._runner is not None

    def start(self) -> FakeComfyUI:
        if not self._thread.is_alive():
            self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if self.running:
            self._call(self._stop())
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def crash(self) -> None:
        """Die like a killed process: connections reset, port closed, all in-memory state lost."""
        if self.running:
            self._call(self._stop())

    def restart(self) -> None:
        """Come back on the same port with fresh state (queue, history, caches); files stay, temp is wiped."""
        self.crash()
        self._call(self._start())

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (delay_ms, progress_steps, history_delay_ms) of the running server."""
        for name, value in knobs.items():
            setattr(self.config, name, value)
        return dataclasses.asdict(self.config)

    def drop_sockets(self) -> int:
        return self._call(self._in_loop(lambda server: server.hub.drop_all()))

    def hang(self, seconds: float | None = None) -> None:
        self._call(self._in_loop(lambda server: server.gate.close(seconds)))

    def unhang(self) -> None:
        self._call(self._in_loop(lambda server: server.gate.open()))

    def stats(self) -> dict[str, Any]:
        return self._call(self._in_loop(control.stats))

    def __enter__(self) -> FakeComfyUI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeComfyUI:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # --- inside the server's loop -----------------------------------------------------------------

    def _call(self, coroutine: Coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _in_loop(self, action: Any) -> Any:
        assert self.server is not None, "the fake ComfyUI is not running"
        return action(self.server)

    async def _start(self) -> None:
        shutil.rmtree(self.dirs.temp, ignore_errors=True)
        for directory in (self.dirs.input, self.dirs.output, self.dirs.temp):
            directory.mkdir(parents=True, exist_ok=True)
        self.server = FakeComfyServer(self.dirs, self.config, crash=self._crash_soon)
        runner = web.AppRunner(self.server.app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def _stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _crash_soon(self) -> None:
        asyncio.get_running_loop().create_task(self._stop())
