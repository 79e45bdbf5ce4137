"""The webhook outbox: the events the triggers of migration 0005 wrote with each job's transition, claimed by the
delivery process with a lease, and every attempt at them. A mixin of ``Store``.

Delivery states: ``pending`` (due at ``next_at``; leased to one process while it tries) -> ``delivered`` (a 2xx)
| ``failed`` (a 410, or still undelivered past WEBHOOK_MAX_AGE_S). An attempt in flight when its process died
leaves a lease that expires (or that the restarted process releases at once): the delivery is due again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

import apsw
import msgspec

from store.connection import write_transaction
from store.errors import JobNotFound
from store.queries import queries
from store.room import writes

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

EVENTS = ("job.started", "job.progress", "job.completed", "job.failed", "job.cancelled")
DEFAULT_EVENTS = ("job.completed", "job.failed", "job.cancelled")


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookSpec(msgspec.Struct, frozen=True):
    """Where a job's events go (a checked URL) and which of them."""

    url: str
    events: tuple[str, ...] = DEFAULT_EVENTS
    progress_every_s: float = 5.0


class Delivery(msgspec.Struct, frozen=True):
    """A claimed delivery: the event, and the job as it was at the event (``job``: JobInfo's fields)."""

    id: int
    event_id: str
    job_id: str
    event: str
    url: str
    job: dict[str, Any]
    created_at: float
    attempts: int


class Attempt(msgspec.Struct, frozen=True):
    at: float
    status_code: int | None
    error: str | None
    next_at: float | None  # None: no more tries


class DeliveryInfo(msgspec.Struct, frozen=True):
    id: int
    event_id: str
    event: str
    url: str
    state: DeliveryState
    created_at: float
    next_at: float | None  # pending only
    done_at: float | None
    attempts: list[Attempt]


class WebhookFigures(msgspec.Struct, frozen=True):
    """Totals since the store was made, and the backlog now (for /metrics)."""

    delivered: int  # deliveries that got a 2xx
    failed_attempts: int  # attempts that did not (error, timeout, non-2xx)
    given_up: int  # deliveries that ended failed (410, or too old)
    backlog: int  # pending deliveries
    oldest_pending_age_s: float  # 0 without backlog


class Outbox:
    """The attributes and ``_rows`` are ``Store``'s."""

    conn: apsw.Connection
    clock: Callable[[], float]

    def _rows(self, name: str, **params: Any) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def committed(self, write: str) -> None:
        """See ``Room.committed``."""

    def _wq(self, query: str, /, **params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(queries("webhooks.sql")[query], params).fetchall()

    def _insert_webhook(self, job_id: str, spec: WebhookSpec) -> None:
        """Inside the job's insert transaction."""
        self._wq("insert_job_webhook", job_id=job_id, url=spec.url, events=_encode(list(spec.events)).decode(),
                 progress_every_s=spec.progress_every_s)

    @writes
    def claim_deliveries(self, owner: str, *, limit: int, lease_s: float) -> list[Delivery]:
        """pending -> leased to ``owner`` for ``lease_s``: the due deliveries nobody holds, oldest first."""
        now = self.clock()
        rows = self._wq("claim_deliveries", owner=owner, now=now, lease_until=now + lease_s, limit=limit)
        return [Delivery(id=r[0], event_id=r[1], job_id=r[2], event=r[3], url=r[4], job=_decode(r[5]),
                         created_at=r[6], attempts=r[7]) for r in rows]

    @writes
    def release_deliveries(self, owner: str) -> int:
        """Free the leases ``owner`` holds (it restarted: the attempts it had in flight died with it)."""
        self._wq("release_deliveries", owner=owner)
        return int(self.conn.changes())

    @writes
    def record_attempt(self, delivery: Delivery, owner: str, attempt: Attempt, state: DeliveryState) -> bool:
        """One attempt and what it leaves: pending (retry at ``attempt.next_at``), delivered or failed.

        False (nothing written) when ``owner`` no longer holds the lease: another process has it now."""
        with write_transaction(self.conn):
            self._wq("finish_attempt", id=delivery.id, owner=owner, state=str(state), next_at=attempt.next_at,
                     now=attempt.at)
            if not self.conn.changes():
                return False
            self._wq("insert_attempt", delivery=delivery.id, at=attempt.at, status_code=attempt.status_code,
                     error=attempt.error, next_at=attempt.next_at)
            if state is DeliveryState.DELIVERED:
                self._wq("count_webhook", name="delivered")
            else:
                self._wq("count_webhook", name="failed_attempts")
                if state is DeliveryState.FAILED:
                    self._wq("count_webhook", name="given_up")
        return True

    def webhook_deliveries(self, job_id: str) -> list[DeliveryInfo]:
        """A job's deliveries and their attempts, oldest first; JobNotFound when it has none and no job."""
        attempts: dict[int, list[Attempt]] = {}
        for delivery, at, code, error, next_at in self._wq("delivery_attempts", job_id=job_id):
            attempts.setdefault(delivery, []).append(Attempt(at=at, status_code=code, error=error, next_at=next_at))
        found = [DeliveryInfo(id=r[0], event_id=r[1], event=r[2], url=r[3], state=DeliveryState(r[4]),
                              created_at=r[6], next_at=r[7] if r[4] == "pending" else None, done_at=r[8],
                              attempts=attempts.get(r[0], []))
                 for r in self._wq("job_deliveries", job_id=job_id)]
        if not found and not self._rows("get_status", id=job_id):
            raise JobNotFound(f"no job {job_id}")
        return found

    @writes
    def redeliver(self, job_id: str) -> int | None:
        """A new pending delivery of the job's last event, same event id; None when the job has no event
        (JobNotFound when there is no such job either)."""
        with write_transaction(self.conn):
            rows = self._wq("redeliver", job_id=job_id, now=self.clock())
        if rows:
            return int(rows[0][0])
        if not self._rows("get_status", id=job_id):
            raise JobNotFound(f"no job {job_id}")
        return None

    def deliveries_pending(self) -> bool:
        """Whether any delivery waits, due now or later (one index step)."""
        return bool(self._wq("any_pending"))

    def deliveries_due(self) -> bool:
        """Whether a claim would find anything: a read, so a wake-up with nothing to do takes no write lock."""
        return bool(self._wq("any_due", now=self.clock()))

    def webhook_figures(self) -> WebhookFigures:
        counts = dict(self._wq("webhook_counts"))
        backlog, oldest = self._wq("webhook_backlog")[0]
        return WebhookFigures(delivered=counts.get("delivered", 0), failed_attempts=counts.get("failed_attempts", 0),
                              given_up=counts.get("given_up", 0), backlog=int(backlog),
                              oldest_pending_age_s=max(0.0, self.clock() - oldest) if oldest else 0.0)

    @writes
    def cleanup_deliveries(self, max_age_s: float, *, batch: int = 500) -> int:
        """Delete the deliveries (and their attempts) that ended more than ``max_age_s`` ago."""
        deleted, cutoff = 0, self.clock() - max_age_s
        while True:
            with write_transaction(self.conn):
                self._wq("cleanup_deliveries", cutoff=cutoff, batch=batch)
                n = int(self.conn.changes())
            deleted += n
            if n < batch:
                return deleted


def parse_events(events: Iterable[str]) -> tuple[str, ...]:
    """The known event names among ``events`` in a stable order; ValueError naming an unknown one."""
    wanted = set()
    for name in events:
        if name not in EVENTS:
            raise ValueError(f"unknown event {name[:40]!r} (known: {', '.join(EVENTS)})")
        wanted.add(name)
    return tuple(name for name in EVENTS if name in wanted)
