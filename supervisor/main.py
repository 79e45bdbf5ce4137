"""``comfyui-worker run``: the whole daemon — ComfyUI, its executors and the transport, supervised."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import time
from typing import Any

from config import keys as keyfile
from config import lean
from config import webhooks as webhook_settings
from config.logging import configure, get_logger
from config.settings import Settings
from config.workflow_file import WorkflowFileError, load_workflow
from store import Store
from store.disk import MB, Reserve, disk_free, is_full
from supervisor import children, comfyui
from supervisor.daemon import Daemon, Helper, Instance
from supervisor.logrelay import LogRelay
from supervisor.loop import Loop
from supervisor.maintenance import Maintenance
from supervisor.policy import RestartPolicy
from supervisor.process import ManagedProcess, ProcessSpec, Spawner
from supervisor.spawn import spawn

EXIT_USAGE = 2


def problem(settings: Settings, commands: dict[str, object]) -> str | None:
    """Why the daemon cannot start with these settings, in one line; None when it can."""
    if not settings.comfyui_path and not settings.comfyui_url:
        return "set COMFYUI_PATH (a ComfyUI folder to start) or COMFYUI_URL (a running ComfyUI to attach to)"
    if settings.comfyui_path and not settings.comfyui_url and not os.path.isfile(
            os.path.join(settings.comfyui_path, "main.py")):
        return f"COMFYUI_PATH={settings.comfyui_path} has no main.py"
    if settings.warmup_workflow:
        try:
            load_workflow(settings.warmup_workflow)
        except WorkflowFileError as exc:
            return f"WARMUP_WORKFLOW={settings.warmup_workflow}: {exc}"
    if children.transport_spec(settings, {}, commands) is None:
        return "the transport's command is missing from this installation"
    if why := webhook_settings.problem(settings):
        return why
    try:
        comfyui.gpu_ids(settings)
    except ValueError as exc:
        return str(exc)
    if settings.http_api_mode and settings.api_keys_file:
        try:
            keyfile.read(settings.api_keys_file)
        except keyfile.KeysFileError as exc:
            return f"API_KEYS_FILE={exc}"
    if settings.runpod_overflow_endpoint_id and settings.runpod_overflow_queue_depth is None \
            and settings.runpod_overflow_wait_s is None:
        return ("RUNPOD_OVERFLOW_ENDPOINT_ID is set without a policy: set RUNPOD_OVERFLOW_QUEUE_DEPTH (overflow when "
                "more jobs are pending) and/or RUNPOD_OVERFLOW_WAIT_S (overflow a job that waited this long)")
    if settings.comfyui_path and not settings.comfyui_url:
        try:
            for i in range(settings.comfyui_instances):
                for folder in comfyui.instance_dirs(settings, i).values():
                    os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            return f"DATA_DIR={settings.data_dir}: cannot create ComfyUI's folders: {exc}"
        return comfyui.port_problem(settings)
    return None


def build(settings: Settings, store: Store, spawner: Spawner, commands: dict[str, object], log: object,
          clock: object = time.monotonic, environ: dict[str, str] | None = None) -> Daemon:
    """The managed processes these settings ask for, wired into a Daemon."""
    env = dict(os.environ if environ is None else environ)
    policy = RestartPolicy(max_s=settings.restart_backoff_max_s, max_failures=settings.restart_max_failures,
                           window_s=settings.restart_window_s)
    common = {"spawner": spawner, "clock": clock, "policy": policy, "stop_timeout_s": settings.stop_timeout_s}
    instances = []
    attached = comfyui.attached_urls(settings) if settings.comfyui_url else None
    count = len(attached) if attached else settings.comfyui_instances
    gpus = comfyui.gpu_ids(settings) if not attached else []
    for i in range(count):
        if attached:
            url, dirs = attached[i], None
            spec = ProcessSpec(name=f"comfyui-{i}", kind="comfyui", instance=i, argv=[])
        else:
            url, dirs = comfyui.url_of(settings, i), comfyui.instance_dirs(settings, i)
            spec = comfyui.comfyui_spec(settings, i, gpus[i], env)
        comfy = ManagedProcess(spec, probed=True, external=bool(attached), **common,  # type: ignore[arg-type]
                               startup_timeout_s=settings.comfyui_startup_timeout_s,
                               hang_timeout_s=settings.comfyui_hang_timeout_s)
        executor = ManagedProcess(children.executor_spec(settings, i, url, dirs, env),
                                  restart_code=(children.EXIT_REFRESH, children.EXIT_RESTART), **common)  # type: ignore[arg-type]
        instances.append(Instance(index=i, url=url, worker_id=children.worker_id(settings, i), comfyui=comfy,
                                  executor=executor))
    transport_spec = children.transport_spec(settings, env, commands)
    transport = ManagedProcess(transport_spec, **common) if transport_spec else None  # type: ignore[arg-type]
    webhooks_spec = children.webhooks_spec(settings, env, commands)
    # the deliverer is started once a job has a webhook (every job has one with WEBHOOK_URL)
    helpers = [Helper(ManagedProcess(webhooks_spec, **common),  # type: ignore[arg-type]
                      lambda: bool(settings.webhook_url) or store.deliveries_pending())] if webhooks_spec else []
    forwarder_spec = children.forwarder_spec(settings, env)
    forwarder = ManagedProcess(forwarder_spec, **common) if forwarder_spec else None  # type: ignore[arg-type]
    return Daemon(store, instances, transport, log=log, stop_timeout_s=settings.stop_timeout_s,
                  shutdown_grace_s=settings.shutdown_grace_s, clock=clock, helpers=helpers,  # type: ignore[arg-type]
                  forwarder=forwarder)


def open_store(settings: Settings, log: Any) -> Store:
    """The store; on a disk too full to open it (its -shm, a migration), the reserve file next to it is given
    up and the store opened again, so the daemon starts and /admin/cleanup can run."""
    try:
        return Store.from_settings(settings)
    except Exception as exc:
        folder = os.path.dirname(os.path.abspath(settings.sqlite_db_path))
        full = is_full(exc) or (os.path.isdir(folder) and disk_free(folder) < MB)
        if not (full and Reserve(settings.sqlite_db_path, 0).release()):
            raise
        log.warning("disk_reserve_released", reason="store_full_at_start", error=f"{type(exc).__name__}: {exc}")
        return Store.from_settings(settings)


def main(settings: Settings, args: argparse.Namespace) -> int:
    from supervisor.cli import COMMANDS

    configure("supervisor", settings.comfy_log_level)
    log = get_logger()
    why = problem(settings, dict(COMMANDS))
    if why:
        print(f"comfyui-worker run: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        store = open_store(settings, log)  # migrates first
    except Exception as exc:  # unwritable folder, not a database, locked: one line, not a traceback
        print(f"comfyui-worker run: SQLITE_DB_PATH={settings.sqlite_db_path}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(_run(settings, store, log))


async def _run(settings: Settings, store: Store, log: object) -> int:
    from supervisor.cli import COMMANDS

    relay = LogRelay(sys.stdout.buffer)
    spawner = functools.partial(spawn, on_pipe=relay.attach)
    daemon = build(settings, store, spawner, dict(COMMANDS), log)
    maintenance = Maintenance(settings, time.time, log)
    loop = Loop(daemon, relay=relay, maintenance=maintenance, clock=time.monotonic,
                probe_interval_s=settings.comfyui_probe_interval_s,
                hang_timeout_s=settings.comfyui_hang_timeout_s, log=log)
    lean.trim()  # start-up garbage given back
    try:
        return await loop.run()
    finally:
        store.close()
