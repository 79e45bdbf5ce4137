"""What a client sees of its job's webhooks: every delivery and attempt, and a redelivery of the last event.

Shared by the HTTP routes ``/jobs/{id}/webhooks`` (and any other view of the same jobs). A URL is shown without
its query string, which may hold the receiver's token.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import msgspec
from msgspec import Meta

from store import DeliveryInfo, DeliveryState, InvalidTransition, Store


class AttemptBody(msgspec.Struct, frozen=True):
    at: Annotated[float, Meta(description="seconds since the epoch")]
    status_code: Annotated[int | None, Meta(description="the receiver's answer; null when none came")]
    error: Annotated[str | None, Meta(description="why no answer came (timeout, refused address, ...)")]
    next_at: Annotated[float | None, Meta(description="the next try; null when none follows")]


class DeliveryBody(msgspec.Struct, frozen=True):
    id: int
    event_id: Annotated[str, Meta(description="the webhook-id header: the same on every retry and redelivery")]
    event: str
    url: Annotated[str, Meta(description="the target, without its query string")]
    state: DeliveryState
    created_at: float
    next_at: float | None
    done_at: float | None
    attempts: list[AttemptBody]


class WebhooksBody(msgspec.Struct, frozen=True):
    job_id: str
    deliveries: list[DeliveryBody]


def shown(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _body(info: DeliveryInfo) -> DeliveryBody:
    return DeliveryBody(id=info.id, event_id=info.event_id, event=info.event, url=shown(info.url), state=info.state,
                        created_at=info.created_at, next_at=info.next_at, done_at=info.done_at,
                        attempts=[AttemptBody(at=a.at, status_code=a.status_code, error=a.error, next_at=a.next_at)
                                  for a in info.attempts])


def history(store: Store, job_id: str) -> WebhooksBody:
    """Raises JobNotFound for a job that neither exists nor had events."""
    return WebhooksBody(job_id=job_id, deliveries=[_body(d) for d in store.webhook_deliveries(job_id)])


def redeliver(store: Store, job_id: str) -> DeliveryBody:
    """A new delivery of the job's last event (same event id). Raises JobNotFound, or InvalidTransition when
    the job has no event yet (409)."""
    new = store.redeliver(job_id)
    if new is None:
        raise InvalidTransition(f"job {job_id} has no webhook event to send again")
    return next(_body(d) for d in store.webhook_deliveries(job_id) if d.id == new)
