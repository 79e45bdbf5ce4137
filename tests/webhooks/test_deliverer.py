"""The delivery loop against a real receiver on loopback: retries, signatures (checked with the
``standardwebhooks`` package), 410, Retry-After, redirects, refused addresses and the body's outputs."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from config.logging import get_logger
from store import EVENTS, DeliveryState, OutputFile, Store, WebhookSpec
from store.addresses import AddressPolicy
from tests.webhooks.receiver import Received, Receiver
from transports.webhooks.deliverer import Deliverer, DeliveryConfig
from transports.webhooks.schedule import RetryPolicy

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {}}}
FAST = RetryPolicy(base_s=0.05, max_s=0.2, max_age_s=60)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def config(**overrides: Any) -> DeliveryConfig:
    values: dict[str, Any] = {"owner": "test-webhooks", "key": b"k" * 32, "policy": AddressPolicy(allow_private=True),
                              "retry": FAST, "timeout_s": 5.0, "poll_interval_s": 0.05}
    return DeliveryConfig(**{**values, **overrides})


def ended_job(store: Store, url: str, outputs: list[OutputFile] = (), **spec: Any) -> str:  # type: ignore[assignment]
    job = store.create_job(WORKFLOW, webhook=WebhookSpec(url=url, **spec))
    store.claim("w")
    result = {"images": [{"type": "base64", "filename": o.filename, "output_index": o.index} for o in outputs]}
    store.complete(job.id, "w", result, outputs=outputs)
    return job.id


async def deliver_until(store: Store, cfg: DeliveryConfig, receiver: Receiver, count: int,
                        settle: float = 0.0) -> list[Received]:
    stop = asyncio.Event()
    task = asyncio.create_task(Deliverer(store, cfg, get_logger()).run(stop))
    try:
        got = await asyncio.to_thread(receiver.wait_for, lambda r: len(r) >= count)
        await asyncio.sleep(settle + 0.2)  # the last attempt is recorded
        return got
    finally:
        stop.set()
        await task


async def run_for(store: Store, cfg: DeliveryConfig, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Deliverer(store, cfg, get_logger()).run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task


async def test_fails_then_accepts_one_event_id_valid_signature(store: Store, receiver: Receiver) -> None:
    receiver.script = [503, 500, (429, {"Retry-After": "0"})]
    job_id = ended_job(store, receiver.url)
    got = await deliver_until(store, config(), receiver, 4)
    assert [r.status for r in got] == [503, 500, 429, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    payload = Webhook(SECRET).verify(got[-1].body, got[-1].headers)
    assert payload["type"] == "job.completed" and payload["data"]["job_id"] == job_id
    assert payload["data"]["status"] == "completed"
    [info] = store.webhook_deliveries(job_id)
    assert info.state is DeliveryState.DELIVERED
    assert [a.status_code for a in info.attempts] == [503, 500, 429, 200]
    assert all(a.next_at is not None for a in info.attempts[:3]) and info.attempts[3].next_at is None


async def test_a_tampered_body_fails_verification(store: Store, receiver: Receiver) -> None:
    ended_job(store, receiver.url)
    [got] = await deliver_until(store, config(), receiver, 1)
    with pytest.raises(Exception):  # noqa: B017  (standardwebhooks' WebhookVerificationError)
        Webhook(SECRET).verify(got.body.replace(b"completed", b"failed"), got.headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(Exception):  # noqa: B017
        Webhook(other).verify(got.body, got.headers)


async def test_without_key_no_signature_header(store: Store, receiver: Receiver) -> None:
    ended_job(store, receiver.url)
    [got] = await deliver_until(store, config(key=None), receiver, 1)
    assert "webhook-signature" not in got.headers and got.headers["webhook-id"].startswith("msg_")


async def test_410_stops_at_once(store: Store, receiver: Receiver) -> None:
    receiver.script = [410]
    job_id = ended_job(store, receiver.url)
    await deliver_until(store, config(), receiver, 1, settle=0.3)
    [info] = store.webhook_deliveries(job_id)
    assert info.state is DeliveryState.FAILED and [a.status_code for a in info.attempts] == [410]
    assert len(receiver.received) == 1 and store.webhook_figures().given_up == 1


async def test_retry_after_is_honoured_and_bounded(store: Store, receiver: Receiver) -> None:
    receiver.script = [(503, {"Retry-After": "1"}), (503, {"Retry-After": "86400"})]
    job_id = ended_job(store, receiver.url)
    await deliver_until(store, config(retry=RetryPolicy(base_s=0.05, max_s=1.5, max_age_s=60)), receiver, 3)
    first, second, third = store.webhook_deliveries(job_id)[0].attempts
    assert first.next_at is not None and first.next_at - first.at >= 1.0
    assert second.next_at is not None and second.next_at - second.at <= 1.5 + 0.1  # a day asked, capped
    assert third.status_code == 200


async def test_a_redirect_is_a_failed_attempt_never_followed(store: Store, receiver: Receiver) -> None:
    elsewhere = Receiver()
    try:
        receiver.script = [(302, {"Location": elsewhere.url})]
        job_id = ended_job(store, receiver.url)
        await deliver_until(store, config(), receiver, 2)
        assert elsewhere.received == []
        assert [a.status_code for a in store.webhook_deliveries(job_id)[0].attempts] == [302, 200]
    finally:
        elsewhere.close()


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(store: Store, receiver: Receiver) -> None:
    """``localhost`` passes the submit check (a name, not an address) and is refused before connecting."""
    port = receiver.url.split(":")[2].split("/")[0]
    job_id = ended_job(store, f"http://localhost:{port}/hook")
    await run_for(store, config(policy=AddressPolicy()), 0.5)
    assert receiver.received == []
    attempts = store.webhook_deliveries(job_id)[0].attempts
    assert attempts and all(a.status_code is None and "refused" in (a.error or "") for a in attempts)
    assert "127.0.0.1" in (attempts[0].error or "") or "::1" in (attempts[0].error or "")


async def test_too_old_an_event_is_given_up(store: Store, receiver: Receiver) -> None:
    receiver.default = 500
    job_id = ended_job(store, receiver.url)
    await run_for(store, config(retry=RetryPolicy(base_s=0.05, max_s=0.05, max_age_s=0.3)), 1.0)
    [info] = store.webhook_deliveries(job_id)
    assert info.state is DeliveryState.FAILED and len(info.attempts) >= 2


async def test_unreachable_receiver_is_recorded_as_an_error(store: Store) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()
    job_id = ended_job(store, url)
    await run_for(store, config(), 0.3)
    attempts = store.webhook_deliveries(job_id)[0].attempts
    assert attempts and attempts[0].status_code is None and "connect" in (attempts[0].error or "")


async def test_large_outputs_become_urls_small_ones_inline(store: Store, receiver: Receiver) -> None:
    small, large = OutputFile(0, "a.png", "image/png", b"s" * 10), OutputFile(1, "b.png", "image/png", b"L" * 5000)
    job_id = ended_job(store, receiver.url, [small, large])
    [got] = await deliver_until(store, config(inline_bytes=1000, base_url="https://api.example.com/"), receiver, 1)
    images = json.loads(got.body)["data"]["result"]["images"]
    assert images[0]["data"] == base64.b64encode(small.data).decode() and "url" not in images[0]
    assert "data" not in images[1] and images[1]["url"] == f"https://api.example.com/jobs/{job_id}/outputs/1"


async def test_started_and_progress_events_when_asked(store: Store, receiver: Receiver) -> None:
    from store import Progress

    job = store.create_job(WORKFLOW, webhook=WebhookSpec(url=receiver.url, events=EVENTS))
    store.claim("w")
    store.record_progress(job.id, "w", Progress(value=1, max=4))
    store.complete(job.id, "w", {})
    got = await deliver_until(store, config(concurrency=1), receiver, 3)
    assert sorted(json.loads(r.body)["type"] for r in got) == ["job.completed", "job.progress", "job.started"]
