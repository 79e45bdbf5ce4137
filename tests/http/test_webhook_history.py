"""GET /jobs/{id}/webhooks lists deliveries and attempts; POST .../webhooks/redeliver sends the last event again
with the same event id."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar
from litestar.testing import TestClient

from store import Attempt, DeliveryState, Store
from tests.http.conftest import WORKFLOW, b64

BODY = {"workflow": WORKFLOW, "images": [{"name": "in.png", "image": b64()}],
        "webhook": "http://127.0.0.1:9/hook?token=s3cret"}


def test_history_shows_attempts_and_redeliver_keeps_the_event_id(
        make_client: Callable[..., TestClient[Litestar]], db_path: str) -> None:
    client = make_client(webhook_allow_private=True)
    job_id = client.post("/run", json=BODY).json()["job_id"]
    assert client.get(f"/jobs/{job_id}/webhooks").json() == {"job_id": job_id, "deliveries": []}
    assert client.post(f"/jobs/{job_id}/webhooks/redeliver").status_code == 409  # no event yet
    assert client.post(f"/cancel/{job_id}").status_code == 200
    store = Store(db_path)
    [delivery] = store.claim_deliveries("d", limit=5, lease_s=30)
    store.record_attempt(delivery, "d", Attempt(at=delivery.created_at + 1, status_code=500, error=None,
                                                next_at=delivery.created_at + 6), DeliveryState.PENDING)
    [listed] = client.get(f"/jobs/{job_id}/webhooks").json()["deliveries"]
    assert listed["event"] == "job.cancelled" and listed["state"] == "pending"
    assert listed["url"] == "http://127.0.0.1:9/hook"  # the query (a token) is not shown
    assert listed["attempts"] == [{"at": delivery.created_at + 1, "status_code": 500, "error": None,
                                   "next_at": delivery.created_at + 6}]
    response = client.post(f"/jobs/{job_id}/webhooks/redeliver")
    assert response.status_code == 202, response.text
    assert response.json()["event_id"] == listed["event_id"] and response.json()["attempts"] == []
    assert len(client.get(f"/jobs/{job_id}/webhooks").json()["deliveries"]) == 2


def test_unknown_job_is_404(client: TestClient[Litestar]) -> None:
    assert client.get("/jobs/nope/webhooks").status_code == 404
    response = client.post("/jobs/nope/webhooks/redeliver")
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_history_needs_the_api_key(make_client: Callable[..., TestClient[Litestar]]) -> None:
    client = make_client(api_key="k")
    assert client.get("/jobs/x/webhooks").status_code == 401
    assert client.post("/jobs/x/webhooks/redeliver").status_code == 401
