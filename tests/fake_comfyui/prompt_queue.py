"""ComfyUI's PromptQueue: a heap ordered by `number`, the running item, history, and worker flags."""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
from collections.abc import Callable
from typing import Any

MAXIMUM_HISTORY_SIZE = 10000

# (number, prompt_id, prompt, extra_data, outputs_to_execute, sensitive extra_data)
QueueItem = tuple[Any, str, dict, dict, list, dict]


class PromptQueue:
    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change  # ComfyUI's server.queue_updated(): a `status` broadcast
        self.heap: list[tuple[Any, int, QueueItem]] = []
        self.running: dict[int, QueueItem] = {}
        self.history: dict[str, dict] = {}
        self.flags: dict[str, Any] = {}
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()

    # --- queue ------------------------------------------------------------------------------------

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self.heap, (item[0], next(self._seq), item))
        self._wakeup.set()
        self.on_change()

    async def wait(self) -> None:
        """Until there is an item or a flag to act on."""
        while not self.heap and not self.flags:
            self._wakeup.clear()
            await self._wakeup.wait()

    def get(self) -> tuple[int, QueueItem] | None:
        if not self.heap:
            return None
        _, seq, item = heapq.heappop(self.heap)
        self.running[seq] = item
        self.on_change()
        return seq, item

    def task_done(self, seq: int, history_result: dict, status: dict) -> None:
        item = self.running.pop(seq)
        if len(self.history) > MAXIMUM_HISTORY_SIZE:
            self.history.pop(next(iter(self.history)))
        self.history[item[1]] = {"prompt": list(item[:5]), "outputs": {}, "status": status}
        self.history[item[1]].update(history_result)
        self.on_change()

    def tasks_remaining(self) -> int:
        return len(self.heap) + len(self.running)

    def current(self) -> tuple[list, list]:
        """(running, pending) items without the sensitive part; pending in heap-array order (trace 31)."""
        running = [list(item[:5]) for item in self.running.values()]
        pending = [list(entry[2][:5]) for entry in self.heap]
        return copy.deepcopy(running), copy.deepcopy(pending)

    def running_ids(self) -> list[str]:
        return [item[1] for item in self.running.values()]

    def delete(self, prompt_id: str) -> bool:
        for index, entry in enumerate(self.heap):
            if entry[2][1] == prompt_id:
                self.heap.pop(index)
                heapq.heapify(self.heap)
                self.on_change()
                return True
        return False

    def wipe(self) -> None:
        self.heap = []
        self.on_change()

    # --- flags (POST /free) -----------------------------------------------------------------------

    def set_flag(self, name: str, value: Any) -> None:
        self.flags[name] = value
        self._wakeup.set()

    def take_flags(self) -> dict[str, Any]:
        flags, self.flags = self.flags, {}
        return flags

    # --- history ----------------------------------------------------------------------------------

    def get_history(self, prompt_id: str | None = None, max_items: int | None = None,
                    offset: int = -1) -> dict:
        if prompt_id is not None:
            return {prompt_id: copy.deepcopy(self.history[prompt_id])} if prompt_id in self.history else {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out = {}
        for index, key in enumerate(self.history):
            if index >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return copy.deepcopy(out)

    def delete_history(self, prompt_id: str) -> None:
        self.history.pop(prompt_id, None)

    def wipe_history(self) -> None:
        self.history = {}
