"""``comfyui-worker run`` for real (fake ComfyUI), with a webhook receiver on loopback: every committed event
reaches it, signed (checked with the ``standardwebhooks`` package), whatever is killed in between."""

from __future__ import annotations

import base64
import json
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from store import Store
from tests.supervisor.harness import RunningDaemon, workflow
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")

SECRET = "whsec_" + base64.b64encode(b"acceptance-webhook-key-32-bytes!").decode()
FAST = {"WEBHOOK_SECRET": SECRET, "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_S": "0.2",
        "WEBHOOK_RETRY_MAX_S": "1"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def make(daemons: list[RunningDaemon], tmp_path: Path, **env: str) -> RunningDaemon:
    d = RunningDaemon(tmp_path, **env)
    daemons.append(d)
    d.start()
    d.wait_ready()  # the delivery process starts once a delivery waits (or WEBHOOK_URL is set)
    return d


def submit(d: RunningDaemon, color: int, **fields: Any) -> str:
    response = d.client.post(f"{d.url}/run", json={"workflow": workflow(color), **fields})
    assert response.status_code == 200, response.text
    return str(response.json()["job_id"])


def verified(got: Received) -> dict[str, Any]:
    return Webhook(SECRET).verify(got.body, got.headers)  # type: ignore[no-any-return]


def test_receiver_failing_then_accepting_gets_one_signed_event(daemons: list[RunningDaemon], tmp_path: Path,
                                                               receiver: Receiver) -> None:
    receiver.script = [500, 503, (429, {"Retry-After": "1"})]
    d = make(daemons, tmp_path, **FAST)
    assert "webhooks" not in d.client.get(f"{d.url}/health").json()["components"]  # no webhook yet: dormant
    job_id = submit(d, 1, webhook=receiver.url)
    got = receiver.wait_for(lambda r: any(x.status == 200 for x in r), 30)
    assert d.client.get(f"{d.url}/health").json()["components"]["webhooks"]["state"] == "running"
    assert [r.status for r in got] == [500, 503, 429, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    payload = verified(got[-1])
    assert payload["type"] == "job.completed" and payload["data"]["job_id"] == job_id
    assert payload["data"]["result"]["images"][0]["data"]  # the small output inline, as /status gives it
    history = d.wait_for(lambda: (h := d.client.get(f"{d.url}/jobs/{job_id}/webhooks").json())
                         ["deliveries"][0]["state"] == "delivered" and h, 10, "delivery recorded")
    assert [a["status_code"] for a in history["deliveries"][0]["attempts"]] == [500, 503, 429, 200]
    redelivered = d.client.post(f"{d.url}/jobs/{job_id}/webhooks/redeliver")
    assert redelivered.status_code == 202
    again = receiver.wait_for(lambda r: len(r) >= 5, 10)[-1]
    assert again.headers["webhook-id"] == got[0].headers["webhook-id"] and verified(again)["data"]["job_id"] == job_id


def test_kill_9_of_the_deliverer_and_of_the_supervisor_between_attempts(daemons: list[RunningDaemon],
                                                                        tmp_path: Path, receiver: Receiver) -> None:
    receiver.script = [500, 500]
    d = make(daemons, tmp_path, **{**FAST, "WEBHOOK_RETRY_BASE_S": "2", "WEBHOOK_RETRY_MAX_S": "2"})
    job_id = submit(d, 2, webhook=receiver.url, webhook_events=["job.completed"])
    receiver.wait_for(lambda r: len(r) >= 1, 30)
    d.wait_restarted("webhooks", d.kill9("webhooks"))  # between the first attempt and the second
    receiver.wait_for(lambda r: len(r) >= 2, 30)
    d.signal(signal.SIGKILL)  # between the second and the third: the whole daemon
    d.wait_exit(10)
    d.start()
    got = receiver.wait_for(lambda r: any(x.status == 200 for x in r), 60)
    assert verified(got[-1])["data"]["job_id"] == job_id
    assert {r.headers["webhook-id"] for r in got} == {got[0].headers["webhook-id"]}
    store = Store(d.db_path)
    try:
        d.wait_for(lambda: store.webhook_figures().delivered == 1, 10, "delivered recorded")
    finally:
        store.close()


def test_a_thousand_jobs_make_a_thousand_deliveries(daemons: list[RunningDaemon], tmp_path: Path,
                                                    receiver: Receiver) -> None:
    """None lost, even with the deliverer killed midway (at least once: a duplicate has the same webhook-id)."""
    count = 1000
    d = make(daemons, tmp_path, **FAST, WEBHOOK_URL=receiver.url, JOB_MAX_ATTEMPTS="3")
    started = time.monotonic()
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
        def post(color: int) -> str:
            response = client.post(f"{d.url}/run", json={"workflow": workflow(color % 250, size=8)})
            assert response.status_code == 200, response.text
            return str(response.json()["job_id"])

        ids = set(pool.map(post, range(count)))
    assert len(ids) == count
    receiver.wait_for(lambda r: len(r) >= count // 3, 240)
    d.wait_restarted("webhooks", d.kill9("webhooks"))
    got = receiver.wait_for(lambda r: len({json.loads(x.body)["data"]["job_id"] for x in r}) >= count, 300)
    by_id: dict[str, set[str]] = {}
    for r in got:
        payload = verified(r)
        assert payload["type"] == "job.completed"
        by_id.setdefault(payload["data"]["job_id"], set()).add(r.headers["webhook-id"])
    assert set(by_id) == ids
    assert all(len(event_ids) == 1 for event_ids in by_id.values())  # a duplicate is the same event
    store = Store(d.db_path)
    try:
        figures = d.wait_for(lambda: (f := store.webhook_figures()).backlog == 0 and f, 30, "backlog drained")
        assert figures.delivered >= count and figures.given_up == 0
    finally:
        store.close()
    print(f"\n{count} jobs submitted and delivered in {time.monotonic() - started:.1f} s; "
          f"{len(got) - count} duplicate deliveries after the kill")


def test_refused_targets(daemons: list[RunningDaemon], tmp_path: Path, receiver: Receiver) -> None:
    """Without WEBHOOK_ALLOW_PRIVATE: an address is a 400 at submit; a name that resolves to one (localhost) is
    refused at delivery, before any connection."""
    d = make(daemons, tmp_path, WEBHOOK_SECRET=SECRET, WEBHOOK_RETRY_BASE_S="0.2", WEBHOOK_RETRY_MAX_S="0.5")
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "gopher://x/"):
        response = d.client.post(f"{d.url}/run", json={"workflow": workflow(3), "webhook": url})
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "webhook" and "'webhook'" in response.json()["detail"]
    port = receiver.url.split(":")[2].split("/")[0]
    job_id = submit(d, 4, webhook=f"http://localhost:{port}/hook")

    def refused() -> bool:
        deliveries = d.client.get(f"{d.url}/jobs/{job_id}/webhooks").json()["deliveries"]
        return bool(deliveries and deliveries[0]["attempts"]
                    and "refused" in (deliveries[0]["attempts"][0]["error"] or ""))

    d.wait_for(refused, 20, "delivery refused")
    assert receiver.received == []
