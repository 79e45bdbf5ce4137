"""What every job of one executor shares: its settings, store, ComfyUI client and the callbacks of its loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from config.settings import Settings
from executor.comfy_client import ComfyClient
from executor.references import Fetcher
from executor.storage import OutputSink
from store import Store
from store.policy import OPEN as OPEN_POLICY
from store.policy import WorkflowPolicy

if TYPE_CHECKING:
    from executor.job import JobRun


class Runtime(msgspec.Struct, kw_only=True):
    """What every job of one executor shares."""

    settings: Settings
    store: Store
    client: ComfyClient
    sink: OutputSink
    worker_id: str
    client_id: str
    routes: dict[str, JobRun]  # prompt id -> run, for the websocket's events
    on_unavailable: Callable[[], None]
    fetcher: Fetcher  # inputs given by URL or s3://, and the limits every input is checked against
    policy: WorkflowPolicy = OPEN_POLICY  # node lists + the catalog of this executor's ComfyUI (replaced when re-read)
    on_stuck: Callable[[str], None] = lambda reason: None  # the watchdog: this ComfyUI must be restarted
    on_out_of_memory: Callable[[dict[str, Any]], None] = lambda detail: None  # counted (store operations)
