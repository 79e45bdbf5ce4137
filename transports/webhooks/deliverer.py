"""The delivery loop: claim due deliveries with a lease, POST each (at most WEBHOOK_CONCURRENCY at once), record
every attempt and what it leaves. Woken by the store after each commit that may have written an event
(``Wake.WEBHOOKS``), and polling every POLL_INTERVAL_S as a safety net (retries fall due with no commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from store import Attempt, Delivery, DeliveryState, Store
from store.addresses import AddressPolicy, AddressRefused, IPAddress, Target, check_url, resolve
from store.wakeup import Wake, open_wakeup
from transports.webhooks import body, signing
from transports.webhooks.schedule import RetryPolicy, decide
from transports.webhooks.sender import Answer, SendError, post

Sender = Callable[[Target, list[IPAddress], bytes, dict[str, str], float], Awaitable[Answer]]
Resolver = Callable[[Target, AddressPolicy], list[IPAddress]]
LEASE_MARGIN_S = 30.0  # a lease outlives the attempt's timeout by this much (resolution, rendering)


class DeliveryConfig(msgspec.Struct, frozen=True, kw_only=True):
    owner: str  # stable per host: a restarted process frees the leases its predecessor held
    key: bytes | None  # the signing key (WEBHOOK_SECRET)
    policy: AddressPolicy
    retry: RetryPolicy
    timeout_s: float = 10.0
    concurrency: int = 16
    poll_interval_s: float = 0.5
    inline_bytes: int = 1024 * 1024
    base_url: str | None = None
    wakeup: bool = True
    keep_done_s: float = 86400.0  # ended deliveries (and their attempts) are kept this long
    cleanup_every_s: float = 3600.0


class Deliverer:
    def __init__(self, store: Store, config: DeliveryConfig, log: Any, *, sender: Sender = post,
                 resolver: Resolver = resolve, clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        self.store, self.config, self.log = store, config, log
        self.sender, self.resolver, self.clock, self.rng = sender, resolver, clock, rng
        self.kick = asyncio.Event()
        self.in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; attempts in flight then are cut (their leases are freed at the next start)."""
        freed = self.store.release_deliveries(self.config.owner)
        if freed:
            self.log.info("webhook_leases_freed", deliveries=freed)
        wakeup = open_wakeup(self.store.poker, Wake.WEBHOOKS, self.kick.set, enabled=self.config.wakeup,
                             log=self.log)
        stopper = asyncio.create_task(stop.wait())
        stopper.add_done_callback(lambda _: self.kick.set())
        cleanup_at = self.clock()
        try:
            while not stop.is_set():
                if self.clock() >= cleanup_at:
                    self._cleanup()
                    cleanup_at = self.clock() + self.config.cleanup_every_s
                self._claim()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.poll_interval_s):
                        await self.kick.wait()
                self.kick.clear()
        finally:
            stopper.cancel()
            if wakeup is not None:
                wakeup.close()
            for task in list(self.in_flight):
                task.cancel()
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    def _cleanup(self) -> None:
        try:
            deleted = self.store.cleanup_deliveries(self.config.keep_done_s)
        except Exception as exc:  # tried again next time
            self.log.warning("webhook_cleanup_failed", error=f"{type(exc).__name__}: {exc}")
            return
        if deleted:
            self.log.info("webhook_cleanup", deleted=deleted)

    def _claim(self) -> None:
        free = self.config.concurrency - len(self.in_flight)
        if free <= 0:
            return
        try:
            if not self.store.deliveries_due():
                return
            claimed = self.store.claim_deliveries(self.config.owner, limit=free,
                                                  lease_s=self.config.timeout_s + LEASE_MARGIN_S)
        except Exception as exc:  # a locked or full store: the next poll tries again
            self.log.warning("webhook_claim_failed", error=f"{type(exc).__name__}: {exc}")
            return
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery))
            self.in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.kick.set()  # room for another

    async def deliver(self, delivery: Delivery) -> None:
        """One attempt at one delivery, recorded whatever happens."""
        started = self.clock()
        status_code: int | None = None
        retry_after: str | None = None
        error: str | None = None
        try:
            answer = await self._attempt(delivery, started)
            status_code, retry_after = answer.status_code, answer.retry_after
        except AddressRefused as exc:
            error = f"refused: {exc}"
        except SendError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not lose the delivery: it is recorded and retried
            error = f"{type(exc).__name__}: {exc}"
            self.log.error("webhook_attempt_crashed", delivery=delivery.id, error=error, exc_info=exc)
        self._record(delivery, started, status_code, retry_after, error)

    async def _attempt(self, delivery: Delivery, now: float) -> Answer:
        target = check_url(delivery.url, self.config.policy)
        async with asyncio.timeout(self.config.timeout_s):
            addresses = await asyncio.to_thread(self.resolver, target, self.config.policy)
        payload = body.render(self.store, delivery, inline_bytes=self.config.inline_bytes,
                              base_url=self.config.base_url)
        headers = signing.headers(self.config.key, delivery.event_id, int(now), payload)
        return await self.sender(target, addresses, payload, headers, self.config.timeout_s)

    def _record(self, delivery: Delivery, at: float, status_code: int | None, retry_after: str | None,
                error: str | None) -> None:
        ok = status_code is not None and 200 <= status_code < 300
        state, next_at = decide(self.config.retry, status_code=status_code, retry_after_header=retry_after,
                                failures=delivery.attempts + 1, created_at=delivery.created_at, now=self.clock(),
                                rng=self.rng)
        context = {"job_id": delivery.job_id, "event": delivery.event, "event_id": delivery.event_id,
                   "delivery": delivery.id, "attempt": delivery.attempts + 1, "status_code": status_code}
        try:
            kept = self.store.record_attempt(delivery, self.config.owner,
                                             Attempt(at=at, status_code=status_code, error=error, next_at=next_at),
                                             state)
        except Exception as exc:  # the lease expires and the delivery is tried again
            self.log.error("webhook_attempt_unrecorded", **context, error=f"{type(exc).__name__}: {exc}")
            return
        if not kept:
            self.log.warning("webhook_lease_lost", **context)
        elif ok:
            self.log.info("webhook_delivered", **context)
        elif state is DeliveryState.FAILED:
            self.log.warning("webhook_given_up", **context, error=error)
        else:
            self.log.info("webhook_attempt_failed", **context, error=error,
                          retry_in_s=round((next_at or at) - self.clock(), 3))
