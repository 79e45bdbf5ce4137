"""RunPod's endpoint API under /v2/{endpoint_id}: shapes, the same jobs as /run and /status, and hostile input."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from tests.http.conftest import PNG, WORKER, WORKFLOW, b64, claim, complete, submit

Client = TestClient[Litestar]
INPUT = {"workflow": WORKFLOW, "images": [{"name": "in.png", "image": b64()}]}


def v2_run(client: Client, body: dict[str, Any] | None = None, endpoint: str = "ep1", **kw: Any) -> Any:
    return client.post(f"/v2/{endpoint}/run", json={"input": INPUT} if body is None else body, **kw)


def test_run_answers_an_id_in_queue_and_the_job_is_on_the_seed_routes(client: Client) -> None:
    response = v2_run(client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "IN_QUEUE"
    seed = client.get(f"/status/{body['id']}").json()
    assert seed["status"] == "pending" and seed["queue_position"] == 1


def test_a_job_from_run_is_seen_by_v2_status_in_runpods_words(client: Client, store: Store) -> None:
    job_id = submit(client, images=[{"name": "in.png", "image": b64()}])
    pending = client.get(f"/v2/ep1/status/{job_id}").json()
    assert pending == {"id": job_id, "status": "IN_QUEUE", "output": {"status": "pending", "queue_position": 1}}
    claim(store, job_id)
    running = client.get(f"/v2/ep1/status/{job_id}").json()
    assert running["status"] == "IN_PROGRESS" and isinstance(running["delayTime"], int)
    assert "executionTime" not in running


def test_a_completed_job_has_worker_comfyui_output_and_times_in_ms(client: Client, store: Store) -> None:
    job_id = v2_run(client).json()["id"]
    complete(store, job_id)
    body = client.get(f"/v2/ep1/status/{job_id}").json()
    assert body["status"] == "COMPLETED"
    assert body["output"]["job_id"] == job_id
    [image] = body["output"]["images"]
    assert image["filename"] == "out.png" and image["type"] == "base64"
    assert base64.b64decode(image["data"]) == PNG
    assert isinstance(body["delayTime"], int) and isinstance(body["executionTime"], int)
    info = store.get_job_info(job_id)
    assert info.started_at is not None and info.completed_at is not None
    assert body["executionTime"] == round((info.completed_at - info.started_at) * 1000)
    assert body["delayTime"] == round((info.started_at - info.created_at) * 1000)


def test_a_failed_job_has_runpods_error_and_the_details_as_output(client: Client, store: Store) -> None:
    job_id = v2_run(client).json()["id"]
    claim(store, job_id)
    store.fail(job_id, WORKER, {"type": "execution", "message": "boom", "node_id": "2"})
    body = client.get(f"/v2/ep1/status/{job_id}").json()
    assert body["status"] == "FAILED" and body["error"].startswith("boom")
    assert body["output"]["details"]["node_id"] == "2" and body["output"]["job_id"] == job_id


def test_a_job_past_its_deadline_is_timed_out(client: Client, store: Store) -> None:
    job_id = v2_run(client).json()["id"]
    claim(store, job_id)
    store.fail(job_id, WORKER, {"type": "timeout", "message": "deadline", "timeout_s": 1})
    assert client.get(f"/v2/ep1/status/{job_id}").json()["status"] == "TIMED_OUT"


def test_execution_timeout_in_ms_is_the_jobs_deadline(client: Client, store: Store) -> None:
    job_id = v2_run(client, {"input": INPUT, "policy": {"executionTimeout": 2500}}).json()["id"]
    assert store.get_job_info(job_id).timeout_s == 2.5


def test_cancel_of_a_pending_job_is_cancelled_and_of_a_finished_one_leaves_it(client: Client,
                                                                              store: Store) -> None:
    pending = v2_run(client).json()["id"]
    assert client.post(f"/v2/ep1/cancel/{pending}").json() == {"id": pending, "status": "CANCELLED"}
    assert client.get(f"/status/{pending}").json()["status"] == "cancelled"
    done = submit(client)
    complete(store, done)
    response = client.post(f"/v2/ep1/cancel/{done}")
    assert response.status_code == 200 and response.json()["status"] == "COMPLETED"


def test_stream_gives_the_progress_while_queued_and_nothing_once_finished(client: Client, store: Store) -> None:
    job_id = v2_run(client).json()["id"]
    body = client.get(f"/v2/ep1/stream/{job_id}").json()
    assert body["status"] == "IN_QUEUE" and body["stream"] == [{"output": {"status": "pending",
                                                                             "queue_position": 1}}]
    complete(store, job_id)
    assert client.get(f"/v2/ep1/stream/{job_id}").json()["stream"] == []


def test_health_counts_jobs_the_runpod_way(client: Client, store: Store) -> None:
    done = submit(client)
    complete(store, done)
    retried = submit(client)
    claim(store, retried)
    store.requeue(retried, WORKER, {"type": "comfyui_unavailable", "message": "crash"})
    v2_run(client)
    body = client.get("/v2/ep1/health").json()
    assert body == {"jobs": {"completed": 1, "failed": 0, "inProgress": 0, "inQueue": 2, "retried": 1},
                    "workers": {"idle": 0, "running": 0}}


def test_purge_queue_cancels_every_pending_job_and_no_running_one(client: Client, store: Store) -> None:
    running = submit(client)
    claim(store, running)
    queued = [submit(client) for _ in range(3)]
    assert client.post("/v2/ep1/purge-queue").json() == {"removed": 3, "status": "completed"}
    assert {client.get(f"/status/{j}").json()["status"] for j in queued} == {"cancelled"}
    assert client.get(f"/status/{running}").json()["status"] == "running"


def test_runsync_waits_in_ms_and_answers_the_status_body(client: Client) -> None:
    response = client.post("/v2/ep1/runsync?wait=1000", json={"input": INPUT})
    assert response.status_code == 200
    assert response.json()["status"] == "IN_QUEUE"  # no executor here: still queued after a second


# --- hostile -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["a.b", "x" * 65, "%00", "ép", "a%2Fb"])
def test_an_endpoint_id_not_of_runpods_form_is_404(client: Client, endpoint: str) -> None:
    response = client.get(f"/v2/{endpoint}/health")
    assert response.status_code == 404, response.text
    if "%2F" not in endpoint:  # that one is a path of other segments: no route at all
        assert "no such endpoint" in response.json()["detail"]


def test_with_v2_endpoint_id_set_another_id_is_404_on_every_route(make_client: Callable[..., Client]) -> None:
    client = make_client(v2_endpoint_id="mine")
    assert v2_run(client, endpoint="mine").status_code == 200
    for method, path in [("POST", "run"), ("POST", "runsync"), ("GET", "status/x"), ("GET", "stream/x"),
                         ("POST", "cancel/x"), ("GET", "health"), ("POST", "purge-queue")]:
        response = client.request(method, f"/v2/other/{path}", json={"input": INPUT} if "run" in path else None)
        assert response.status_code == 404, (path, response.text)
        assert "/v2/mine/" in response.json()["detail"]


@pytest.mark.parametrize("route", ["status", "stream", "cancel"])
@pytest.mark.parametrize("job_id", ["nope", "x" * 5000, "' OR 1=1 --", "%00"])
def test_an_unknown_job_id_is_404(client: Client, route: str, job_id: str) -> None:
    method = "POST" if route == "cancel" else "GET"
    response = client.request(method, f"/v2/ep1/{route}/{job_id}")
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("no job")


@pytest.mark.parametrize(("body", "named"), [
    ({}, "input"),
    ({"input": "not an object"}, "input"),
    ({"input": {"images": []}}, "workflow"),
    ({"input": INPUT, "s3Config": {}}, "s3Config"),
    ({"input": INPUT, "policy": {"ttl": 60000}}, "policy.ttl"),
    ({"input": INPUT, "policy": {"executionTimeout": 0}}, "executionTimeout"),
    ({"input": INPUT, "policy": {"executionTimeout": "60"}}, "executionTimeout"),
    ({"input": INPUT, "policy": {"lowPriority": True}}, "lowPriority"),
    ({"input": INPUT, "policy": []}, "policy"),
    ({"input": INPUT, "webhook": "ftp://example.com/hook"}, "webhook"),
    ({"input": INPUT, "webhook": "http://"}, "webhook"),
    ({"input": INPUT, "webhook": 12}, "webhook"),
    ({"input": INPUT, "webhook": "https://example.com/" + "a" * 3000}, "webhook"),
])
def test_a_bad_body_is_400_naming_the_field_and_writes_nothing(client: Client, store: Store,
                                                               body: dict[str, Any], named: str) -> None:
    for route in ("run", "runsync"):
        response = client.post(f"/v2/ep1/{route}", json=body)
        assert response.status_code == 400, response.text
        assert named in response.text
    assert store.stats()["total"] == 0


def test_a_well_formed_webhook_is_accepted(client: Client) -> None:
    assert v2_run(client, {"input": INPUT, "webhook": "https://example.com/hook?x=1"}).status_code == 200


def test_runsync_wait_outside_runpods_range_is_400(client: Client) -> None:
    for wait in ("999", "300001", "abc"):
        response = client.post(f"/v2/ep1/runsync?wait={wait}", json={"input": INPUT})
        assert response.status_code == 400, response.text


def test_a_body_that_is_not_json_is_refused(client: Client) -> None:
    response = client.post("/v2/ep1/run", content=b"input=1", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    response = client.post("/v2/ep1/run", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


# --- keys --------------------------------------------------------------------------------------------------


def test_keys_come_bare_or_as_bearer_as_runpod_sends_them(make_client: Callable[..., Client]) -> None:
    client = make_client(api_key="user-key")
    assert client.get("/v2/ep1/health").status_code == 401
    assert client.get("/v2/ep1/health", headers={"Authorization": "wrong"}).status_code == 401
    assert client.get("/v2/ep1/health", headers={"Authorization": "Basic user-key"}).status_code == 401
    assert client.get("/v2/ep1/health", headers={"Authorization": "user-key"}).status_code == 200
    assert client.get("/v2/ep1/health", headers={"Authorization": "Bearer user-key"}).status_code == 200
    assert v2_run(client, headers={"Authorization": "user-key"}).status_code == 200


def test_a_bare_key_opens_only_the_v2_routes(make_client: Callable[..., Client]) -> None:
    client = make_client(api_key="user-key")
    assert client.get("/stats", headers={"Authorization": "user-key"}).status_code == 401
    assert client.get("/stats", headers={"Authorization": "Bearer user-key"}).status_code == 200


def test_purge_queue_needs_the_admin_key_when_one_is_set(make_client: Callable[..., Client]) -> None:
    client = make_client(api_key="user-key", admin_api_key="admin-key")
    assert client.post("/v2/ep1/purge-queue", headers={"Authorization": "user-key"}).status_code == 403
    assert client.post("/v2/ep1/purge-queue", headers={"Authorization": "admin-key"}).status_code == 200
    assert client.get("/v2/ep1/health", headers={"Authorization": "user-key"}).status_code == 200


def test_wrong_endpoint_and_no_key_is_401_first(make_client: Callable[..., Client]) -> None:
    client = make_client(api_key="user-key", v2_endpoint_id="mine")
    assert client.get("/v2/other/health").status_code == 401


def test_a_large_output_is_read_off_the_loop_and_comes_whole(client: Client, store: Store) -> None:
    job_id = v2_run(client).json()["id"]
    data = PNG + bytes(range(256)) * 8192  # 2 MiB: over transports.streaming.STREAM_OVER
    complete(store, job_id, data)
    for response in (client.get(f"/v2/ep1/status/{job_id}"), client.post(f"/v2/ep1/status/{job_id}")):
        [image] = response.json()["output"]["images"]
        assert base64.b64decode(image["data"]) == data
