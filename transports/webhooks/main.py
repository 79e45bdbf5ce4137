"""``comfyui-worker webhooks``: the delivery process, a child of the supervisor that talks only to the store."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
from typing import Any

from config import webhooks as webhook_settings
from config.logging import configure, get_logger
from config.settings import Settings
from store import Store
from transports.webhooks.deliverer import Deliverer, DeliveryConfig
from transports.webhooks.schedule import RetryPolicy

EXIT_USAGE = 2
MB = 1024 * 1024


def config(settings: Settings) -> DeliveryConfig:
    key = webhook_settings.decode_secret(settings.webhook_secret) if settings.webhook_secret else None
    return DeliveryConfig(
        owner=f"{settings.worker_id or socket.gethostname()}-webhooks", key=key,
        policy=webhook_settings.policy(settings),
        retry=RetryPolicy(base_s=settings.webhook_retry_base_s, max_s=settings.webhook_retry_max_s,
                          max_age_s=settings.webhook_max_age_s),
        timeout_s=settings.webhook_timeout_s, concurrency=settings.webhook_concurrency,
        poll_interval_s=min(settings.poll_interval_s, 1.0), inline_bytes=int(settings.webhook_inline_outputs_mb * MB),
        base_url=settings.public_base_url, wakeup=settings.store_wakeup,
        keep_done_s=settings.cleanup_max_age_hours * 3600)


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("webhooks", settings.comfy_log_level)
    log = get_logger()
    why = webhook_settings.problem(settings)
    if why:
        log.error("webhooks_misconfigured", detail=why)
        return EXIT_USAGE
    if settings.webhook_secret is None:
        log.warning("webhooks_unsigned", detail="WEBHOOK_SECRET is not set: webhooks go without webhook-signature")
    return asyncio.run(_run(settings, log))


async def _run(settings: Settings, log: Any) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    store = Store.from_settings(settings, migrate_schema=False)
    try:
        cfg = config(settings)
        log.info("webhooks_started", owner=cfg.owner, concurrency=cfg.concurrency,
                 signed=cfg.key is not None, allow_private=cfg.policy.allow_private)
        await Deliverer(store, cfg, log).run(stop)
        log.info("webhooks_stopped")
    finally:
        store.close()
    return 0
