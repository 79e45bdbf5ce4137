"""The ``webhook`` and ``webhook_events`` fields of a job request, checked once at submit.

Shared by every route that takes a job (``/run``, ``/runsync``, RunPod's ``/v2/.../run``): call
:func:`webhook_spec`. A refused URL or event is an ``InvalidRequest`` (400) whose detail names the field.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from config import webhooks as webhook_settings
from config.settings import Settings
from store import DEFAULT_EVENTS, WebhookSpec
from store.addresses import AddressPolicy, AddressRefused, check_url
from store.outbox import parse_events
from transports.errors import InvalidRequest

MAX_EVENTS = 16


class WebhookRules(msgspec.Struct, frozen=True):
    """What a webhook field may be: where it may point, the default URL, how often job.progress goes."""

    policy: AddressPolicy = AddressPolicy()
    default_url: str | None = None
    progress_every_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookRules:
        return cls(policy=webhook_settings.policy(settings), default_url=settings.webhook_url,
                   progress_every_s=settings.webhook_progress_interval_s)


def webhook_spec(url: object, events: object, rules: WebhookRules) -> WebhookSpec | None:
    """The job's webhook: ``url`` (else WEBHOOK_URL) checked against the address policy, ``events`` (else the
    three endings) known names; None when neither the request nor the operator names a URL."""
    if url is None:
        url = rules.default_url
    if url is None:
        if events is not None:
            raise InvalidRequest("'webhook_events' needs a 'webhook' URL", field="webhook_events")
        return None
    try:
        target = check_url(url, rules.policy)
    except AddressRefused as exc:
        raise InvalidRequest(f"'webhook' {exc}", field="webhook") from None
    return WebhookSpec(url=target.url, events=_events(events), progress_every_s=rules.progress_every_s)


def _events(events: object) -> tuple[str, ...]:
    if events is None:
        return DEFAULT_EVENTS
    if not isinstance(events, Sequence) or isinstance(events, str | bytes) or not events:
        raise InvalidRequest("'webhook_events' must be a non-empty list of event names", field="webhook_events")
    if len(events) > MAX_EVENTS or not all(isinstance(e, str) for e in events):
        raise InvalidRequest("'webhook_events' must be a short list of event names", field="webhook_events")
    try:
        return parse_events(events)
    except ValueError as exc:
        raise InvalidRequest(f"'webhook_events': {exc}", field="webhook_events") from None
