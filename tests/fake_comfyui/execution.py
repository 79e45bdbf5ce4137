"""Running one prompt the way ComfyUI 0.3.64's PromptExecutor does.

Message order per node (traces 01-09, 23-28): progress_state(running), executing, [progress_state +
progress per tick], [executed], progress_state(finished). Cached nodes are skipped unless they are output
nodes, which re-send `executed` with their cached ui (old filenames, trace 43). Interrupts are seen at the
next node start or progress tick (26, 27). Caches keep only the entries used by the latest prompt.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .catalog import NodeClass
from .memory import Memory
from .nodes import Dirs, NodeContext
from .validation import format_traceback, type_name


class InterruptProcessingException(Exception):
    pass


InterruptProcessingException.__module__ = "comfy.model_management"


class OutOfMemoryError(RuntimeError):
    """torch's: what a node raises when the GPU has no room (comfy.model_management.OOM_EXCEPTION)."""


OutOfMemoryError.__module__ = "torch"
OOM_MESSAGE = "Allocation on device "  # str() of the torch.OutOfMemoryError ComfyUI users report
OOM_TIPS = ("This error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might "
            "have accidentally set the batch_size to a large number.")  # execution.py adds these (0.3.64)


@dataclass
class Config:
    """Test knobs (all mutable at run time)."""

    delay_ms: float = 0.0  # execution time of a prompt, spread over the nodes it really runs
    progress_steps: int = 10  # `progress` ticks per delayed node; 0 = silent sleep (trace 27 behaviour)
    history_delay_ms: float = 0.0  # gap between execution_success and the history write (trace 36)
    # fault injection (not ComfyUI's behaviour; off by default): requests whose path, without /api, starts with
    # garble_path are handled as usual, then answered 200 with garble_body instead (JSON when it starts with
    # { or [, else text/html) -- a proxy's error page, or a broken extension
    garble_path: str = ""
    garble_body: str = "<html><body>502 Bad Gateway</body></html>"
    # a node that never looks at the interrupt flag (a custom node without throw_exception_if_processing_
    # interrupted): it runs its whole time after POST /interrupt; the flag stays set for the next node, as in ComfyUI
    ignore_interrupt: bool = False
    oom_prompts: int = 0  # the next N prompts fail at their first node with torch.OutOfMemoryError
    vram_total_mb: float = 0.0  # > 0: report a CUDA device of this size (memory.py)
    vram_per_prompt_mb: float = 0.0  # VRAM each prompt leaves in use until models are unloaded
    rss_per_prompt_mb: float = 0.0  # real memory each prompt keeps for good (RSS grows)


class Emitter(Protocol):
    def send(self, event: str, data: dict, sid: str | None) -> None: ...

    def send_text(self, node_id: str, text: str) -> None: ...


def _node_key(prompt: dict, classes: dict[str, NodeClass], dirs: Dirs, node_id: str) -> str:
    """Cache key: class, IS_CHANGED, inputs, and the same for every ancestor (CacheKeySetInputSignature)."""
    order: dict[str, int] = {}
    pending = [node_id]
    signature = []
    while pending:
        current = pending.pop(0)
        node = prompt[current]
        cls = classes[node["class_type"]]
        immediate: list[Any] = [node["class_type"], _is_changed(cls, dirs, node["inputs"])]
        if "UNIQUE_ID" in cls.hidden_inputs().values():
            immediate.append(current)
        for name in sorted(node["inputs"]):
            value = node["inputs"][name]
            if isinstance(value, list) and len(value) == 2:
                if value[0] not in order:
                    order[value[0]] = len(order)
                    pending.append(value[0])
                immediate.append((name, ("ANCESTOR", order[value[0]], value[1])))
            else:
                immediate.append((name, value))
        signature.append(immediate)
    return json.dumps(signature, default=str)


def _is_changed(cls: NodeClass, dirs: Dirs, inputs: dict) -> Any:
    if cls.impl.is_changed is None:
        return False
    try:
        return cls.impl.is_changed(dirs, **inputs)
    except Exception:
        return f"nan-{uuid.uuid4()}"  # ComfyUI uses NaN: never equal, never cached


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool | str | dict):
        return value
    return str(value)


class ExecutionList:
    """ComfyUI's ExecutionList: pending nodes in discovery order, output nodes preferred when ready."""

    def __init__(self, prompt: dict, classes: dict[str, NodeClass], is_cached: Callable[[str], bool]):
        self.prompt, self.classes, self.is_cached = prompt, classes, is_cached
        self.pending: dict[str, None] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, None]] = {}

    def add_node(self, node_id: str) -> None:
        stack, links = [node_id], []
        while stack:
            current = stack.pop()
            if current in self.pending:
                continue
            self.pending[current] = None
            self.block_count[current] = 0
            self.blocking[current] = {}
            for value in self.prompt[current]["inputs"].values():
                if isinstance(value, list) and len(value) == 2:
                    if not self.is_cached(value[0]):
                        stack.append(value[0])
                    links.append((value[0], current))
        for source, target in links:
            if not self.is_cached(source):
                self.add_node(source)
                if target not in self.blocking[source]:
                    self.blocking[source][target] = None
                    self.block_count[target] += 1

    def _is_output(self, node_id: str) -> bool:
        return self.classes[self.prompt[node_id]["class_type"]].output_node

    def next_node(self) -> str:
        ready = [n for n in self.pending if self.block_count[n] == 0]
        for candidates in (
            [n for n in ready if self._is_output(n)],
            [n for n in ready if any(self._is_output(b) for b in self.blocking[n])],
            [n for n in ready if any(self._is_output(c) for b in self.blocking[n] for c in self.blocking[b])],
            ready,
        ):
            if candidates:
                return candidates[0]
        raise RuntimeError("dependency cycle")

    def complete(self, node_id: str) -> None:
        del self.pending[node_id]
        for blocked in self.blocking.pop(node_id):
            self.block_count[blocked] -= 1


class Executor:
    """Holds what survives between prompts (caches, interrupt flag, current client) and runs prompts."""

    def __init__(self, classes: dict[str, NodeClass], dirs: Dirs, config: Config, emitter: Emitter,
                 pause: Callable[[], Awaitable[None]]):
        self.classes, self.dirs, self.config, self.emitter, self.pause = classes, dirs, config, emitter, pause
        self.outputs_cache: dict[str, tuple] = {}
        self.ui_cache: dict[str, dict] = {}
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.interrupt_requested = False
        self.memory = Memory(config)

    def reset_caches(self) -> None:
        self.outputs_cache.clear()
        self.ui_cache.clear()

    async def execute(self, prompt: dict, prompt_id: str, extra_data: dict,
                      execute_outputs: list[str]) -> tuple[bool, list, dict]:
        """Returns (success, status messages, history result {outputs, meta})."""
        self.interrupt_requested = False
        self.client_id = extra_data.get("client_id")
        run = PromptRun(self, prompt, prompt_id, extra_data)
        try:
            success = await run.run(execute_outputs)
        finally:
            self.last_node_id = None
        return success, run.messages, run.history_result()


class PromptRun:
    def __init__(self, executor: Executor, prompt: dict, prompt_id: str, extra_data: dict):
        self.ex, self.prompt, self.prompt_id, self.extra_data = executor, prompt, prompt_id, extra_data
        self.messages: list[tuple[str, dict]] = []
        self.progress: dict[str, dict] = {}
        self.executed: list[str] = []
        self.ui_outputs: dict[str, dict] = {}
        self.keys = {nid: _node_key(prompt, executor.classes, executor.dirs, nid) for nid in prompt}
        self.seconds_per_node = 0.0
        self.out_of_memory = executor.config.oom_prompts > 0
        if self.out_of_memory:
            executor.config.oom_prompts -= 1

    # --- messages ---------------------------------------------------------------------------------

    def send(self, event: str, data: dict) -> None:
        self.ex.emitter.send(event, data, self.ex.client_id)

    def add_message(self, event: str, data: dict, broadcast: bool) -> None:
        data = {**data, "timestamp": int(time.time() * 1000)}
        self.messages.append((event, data))
        if self.ex.client_id is not None or broadcast:
            self.send(event, data)

    def _progress(self, node_id: str, **changes: Any) -> None:
        state = self.progress.setdefault(node_id, {"value": 0, "max": 1, "state": "pending"})
        state.update(changes)
        nodes = {nid: {**s, "node_id": nid, "prompt_id": self.prompt_id, "display_node_id": nid,
                       "parent_node_id": None, "real_node_id": nid}
                 for nid, s in self.progress.items() if s["state"] != "pending"}
        self.send("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes})

    def _finish(self, node_id: str) -> None:
        current_max = self.progress.get(node_id, {}).get("max", 1)
        self._progress(node_id, state="finished", value=current_max)

    # --- running ----------------------------------------------------------------------------------

    def is_cached(self, node_id: str) -> bool:
        return self.keys[node_id] in self.ex.outputs_cache

    async def run(self, execute_outputs: list[str]) -> bool:
        self.add_message("execution_start", {"prompt_id": self.prompt_id}, broadcast=False)
        used = set(self.keys.values())
        for cache in (self.ex.outputs_cache, self.ex.ui_cache):
            for key in [k for k in cache if k not in used]:
                del cache[key]
        cached = [nid for nid in self.prompt if self.is_cached(nid)]
        self.add_message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id}, broadcast=False)
        plan = ExecutionList(self.prompt, self.ex.classes, self.is_cached)
        for output in execute_outputs:
            plan.add_node(output)
        to_run = sum(1 for nid in plan.pending if not self.is_cached(nid))
        self.seconds_per_node = self.ex.config.delay_ms / 1000 / max(1, to_run)
        while plan.pending:
            node_id = plan.next_node()
            error = await self.execute_node(node_id)
            if error is not None:
                self.report_error(node_id, *error)
                return False
            plan.complete(node_id)
        self.add_message("execution_success", {"prompt_id": self.prompt_id}, broadcast=False)
        return True

    async def execute_node(self, node_id: str) -> tuple[dict, Exception] | None:
        await self.ex.pause()
        cls = self.ex.classes[self.prompt[node_id]["class_type"]]
        key = self.keys[node_id]
        if key in self.ex.outputs_cache:
            ui = self.ex.ui_cache.get(key)
            if self.ex.client_id is not None:
                self.send("executed", {"node": node_id, "display_node": node_id,
                                       "output": (ui or {}).get("output"), "prompt_id": self.prompt_id})
            if ui is not None:
                self.ui_outputs[node_id] = ui
            self._finish(node_id)
            return None
        inputs: dict[str, Any] | None = None
        try:
            self._progress(node_id, state="running", value=0.0, max=1.0)
            inputs = self.input_data(node_id, cls)
            if self.ex.client_id is not None:
                self.ex.last_node_id = node_id
                self.send("executing", {"node": node_id, "display_node": node_id,
                                        "prompt_id": self.prompt_id})
            self.check_interrupt()
            if self.out_of_memory:
                raise OutOfMemoryError(OOM_MESSAGE)
            await self.work(node_id, cls, inputs)
            context = NodeContext(node_id, self.prompt, self.extra_data, self.ex.dirs,
                                  self.ex.emitter.send_text)
            outputs, ui = cls.impl.run(context, **inputs)
        except Exception as ex:
            return self.error_details(node_id, cls, inputs, ex), ex
        if ui:
            entry = {"output": ui, "meta": {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                            "real_node_id": node_id}}
            self.ui_outputs[node_id] = self.ex.ui_cache[key] = entry
            if self.ex.client_id is not None:
                self.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                       "prompt_id": self.prompt_id})
        self.ex.outputs_cache[key] = outputs
        self._finish(node_id)
        self.executed.append(node_id)
        return None

    def input_data(self, node_id: str, cls: NodeClass) -> dict[str, Any]:
        given = self.prompt[node_id]["inputs"]
        data = {}
        for name in cls.input_names():
            if name not in given:
                continue
            value = given[name]
            if isinstance(value, list) and len(value) == 2:
                value = self.ex.outputs_cache[self.keys[value[0]]][value[1]]
            data[name] = value
        return data

    def hidden_data(self, node_id: str, cls: NodeClass) -> dict[str, Any]:
        sources = {"PROMPT": self.prompt, "EXTRA_PNGINFO": self.extra_data.get("extra_pnginfo"),
                   "UNIQUE_ID": node_id}
        return {name: sources.get(kind) for name, kind in cls.hidden_inputs().items()}

    def check_interrupt(self) -> None:
        if self.ex.interrupt_requested:
            self.ex.interrupt_requested = False
            raise InterruptProcessingException()

    async def work(self, node_id: str, cls: NodeClass, inputs: dict[str, Any]) -> None:
        """Simulated execution time, with `progress` ticks that are also interrupt points (trace 26)."""
        if cls.impl.steps is not None:
            steps = cls.impl.steps(**inputs)
        else:
            steps = self.ex.config.progress_steps if self.seconds_per_node > 0 else 0
        if steps <= 0:
            await asyncio.sleep(self.seconds_per_node)  # a silent node: never an interrupt point (trace 27)
            return
        for value in range(1, steps + 1):
            await asyncio.sleep(self.seconds_per_node / steps)
            await self.ex.pause()
            if not self.ex.config.ignore_interrupt:
                self.check_interrupt()
            self._progress(node_id, state="running", value=value, max=steps)
            self.send("progress", {"value": value, "max": steps, "prompt_id": self.prompt_id,
                                   "node": node_id})

    # --- failures ---------------------------------------------------------------------------------

    def error_details(self, node_id: str, cls: NodeClass, inputs: dict | None, ex: Exception) -> dict:
        current = {name: [_format_value(v)] for name, v in {**(inputs or {}),
                                                             **self.hidden_data(node_id, cls)}.items()}
        tips = ""
        if isinstance(ex, OutOfMemoryError):  # ComfyUI adds its tips and unloads every model
            tips = OOM_TIPS
            self.ex.memory.unload_all_models()
        return {"node_id": node_id, "exception_message": f"{ex}\n{tips}", "exception_type": type_name(type(ex)),
                "traceback": format_traceback(ex), "current_inputs": current if inputs is not None else {}}

    def report_error(self, node_id: str, error: dict, ex: Exception) -> None:
        base = {"prompt_id": self.prompt_id, "node_id": node_id,
                "node_type": self.prompt[node_id]["class_type"], "executed": list(self.executed)}
        if isinstance(ex, InterruptProcessingException):
            self.add_message("execution_interrupted", base, broadcast=True)
            return
        self.add_message("execution_error", {
            **base, **{k: error[k] for k in ("exception_message", "exception_type", "traceback",
                                            "current_inputs")},
            "current_outputs": list(self.prompt)}, broadcast=False)

    def history_result(self) -> dict:
        return {"outputs": {nid: ui["output"] for nid, ui in self.ui_outputs.items()},
                "meta": {nid: ui["meta"] for nid, ui in self.ui_outputs.items()}}
