"""The executor's side of the watchdog and of memory hygiene (issue 12; README "Watchdog, memory and backups").

The executor is the one that sees a prompt ignore its interrupt, ComfyUI fall silent under a job, and where one
job ends and the next begins; so it decides, and asks the supervisor for a fresh ComfyUI by exiting with
EXIT_RESTART once its jobs are ended or released (the supervisor restarts the ComfyUI, then the executor).
Each action is a log line and a counter in the store's ``operations`` table (store/operations.py).
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from executor import memory
from executor.comfy_client import ComfyClient
from executor.errors import BadResponse, ComfyUnavailable
from store import Store

EXIT_RESTART = 4  # ask the supervisor to restart this executor's ComfyUI (supervisor/children.py)


class Watchdog:
    def __init__(self, settings: Settings, store: Store, client: ComfyClient, log: Any,
                 comfyui_component: str | None) -> None:
        self.settings, self.store, self.client, self.log = settings, store, client, log
        self.comfyui_component = comfyui_component  # its row in the store names the spawned ComfyUI's pid
        self.unmeasured_logged = False

    @property
    def limits_set(self) -> bool:
        return bool(self.settings.comfyui_max_rss_mb or self.settings.comfyui_max_vram_mb)

    def record(self, name: str, **detail: Any) -> None:
        """Count an action for the metrics; a store that refuses (full disk) costs only the count."""
        try:
            self.store.record_operation(name, **detail)
        except Exception as exc:
            self.log.warning("operation_not_recorded", operation=name, reason=f"{type(exc).__name__}: {exc}")

    def comfyui_pid(self) -> int | None:
        """The spawned ComfyUI's pid as the supervisor recorded it; None when attached (or not supervised)."""
        if self.comfyui_component is None:
            return None
        for component in self.store.components():
            if component.name == self.comfyui_component:
                return component.pid
        return None

    async def measure(self) -> tuple[memory.Usage, int | None]:
        """(usage, pid of a spawned ComfyUI)."""
        pid = self.comfyui_pid()
        rss = memory.tree_rss(pid) if pid and self.settings.comfyui_max_rss_mb else None
        if self.settings.comfyui_max_rss_mb and pid is None and not self.unmeasured_logged:
            self.unmeasured_logged = True
            self.log.warning("comfyui_rss_unmeasured", reason="not a child of this daemon (COMFYUI_URL)")
        vram = None
        if self.settings.comfyui_max_vram_mb:
            try:
                vram = memory.gpu_used(await self.client.system_stats())
            except (ComfyUnavailable, BadResponse) as exc:
                self.log.warning("comfyui_memory_unmeasured", reason=exc.message)
        return memory.Usage(rss_bytes=rss, vram_bytes=vram), pid

    async def check_memory(self) -> dict[str, Any] | None:
        """Between jobs: the detail of a limit passed by a ComfyUI the supervisor can restart (the caller then
        drains and exits EXIT_RESTART), else None. One it cannot restart (attached) gets POST /free instead."""
        usage, pid = await self.measure()
        s = self.settings
        which = usage.over(s.comfyui_max_rss_mb, s.comfyui_max_vram_mb)
        if which is None:
            return None
        detail = {"limit": which, "rss_bytes": usage.rss_bytes, "vram_bytes": usage.vram_bytes,
                  "max_mb": s.comfyui_max_rss_mb if which == "rss" else s.comfyui_max_vram_mb}
        if pid is not None:
            return detail
        try:
            await self.client.free_memory()
        except (ComfyUnavailable, BadResponse) as exc:
            self.log.warning("comfyui_memory_not_freed", reason=exc.message, **detail)
            return None
        self.log.warning("comfyui_memory_freed", reason="memory_limit", **detail)
        self.record("memory_freed", reason="memory_limit", **detail)
        return None
