"""Asking ComfyUI what became of a prompt, and stopping one: the truth behind the websocket's hints.

``reconcile`` runs after a reconnect or a silence; ``stop`` deletes a prompt still queued and interrupts one
that runs (deleting a running prompt does nothing, trace 30; an interrupt names its prompt so it never stops
anyone else's, trace 28).
"""

from __future__ import annotations

import asyncio

from executor.comfy_client import ComfyClient
from executor.protocol import HistoryEntry, parse_history
from executor.tracker import PromptState, PromptTracker

HISTORY_RETRIES = 40  # history is written just before the completion signal (trace 36); 40 x 50 ms of slack
HISTORY_RETRY_S = 0.05


async def finished_entry(client: ComfyClient, prompt_id: str) -> HistoryEntry | None:
    entry = await client.history(prompt_id)
    return parse_history(entry) if entry else None


async def read_history(client: ComfyClient, prompt_id: str) -> HistoryEntry | None:
    """The history of a prompt known to be finished, allowing for the short race of trace 36."""
    for attempt in range(HISTORY_RETRIES):
        entry = await finished_entry(client, prompt_id)
        if entry is not None:
            return entry
        await asyncio.sleep(HISTORY_RETRY_S * min(attempt + 1, 4))
    return None


async def reconcile(client: ComfyClient, tracker: PromptTracker) -> None:
    """Bring the tracker in line with history and queue: finished, running, still queued, or vanished."""
    pid = tracker.prompt_id
    if await finished_entry(client, pid) is not None:
        tracker.move(PromptState.FINISHED, "found in history")
        return
    queue = await client.queue()
    if pid in queue.running:
        tracker.move(PromptState.RUNNING)
    elif pid not in queue.pending:
        # it may have finished between the two requests (history is written under the queue's lock)
        if await finished_entry(client, pid) is not None:
            tracker.move(PromptState.FINISHED, "found in history")
        else:
            tracker.move(PromptState.VANISHED, "prompt vanished from ComfyUI's queue and history")


async def stop(client: ComfyClient, tracker: PromptTracker) -> None:
    """Delete the prompt if it is still queued in ComfyUI, else interrupt it if it runs."""
    pid = tracker.prompt_id
    queue = await client.queue()
    if pid in queue.pending:
        await client.delete_queued([pid])
        queue = await client.queue()  # it may have started meanwhile
        if pid not in queue.running and pid not in queue.pending:
            if await finished_entry(client, pid) is None:
                tracker.move(PromptState.DELETED, "deleted from ComfyUI's queue")
            else:
                tracker.move(PromptState.FINISHED, "found in history")
            return
    if pid in queue.running:
        tracker.move(PromptState.RUNNING)
        await client.interrupt(pid)
