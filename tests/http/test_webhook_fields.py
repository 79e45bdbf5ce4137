"""The webhook fields of a job request: checked at submit (400 naming the field), stored with the job."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from config.settings import Settings
from config.webhooks import problem
from store import Store
from tests.http.conftest import WORKFLOW, b64

IMAGES = [{"name": "in.png", "image": b64()}]


def hooks(db_path: str, job_id: str) -> list[tuple[str, str]]:
    store = Store(db_path)
    try:
        return [(url, events) for url, events in store.conn.execute(
            "SELECT url, events FROM job_webhooks WHERE job_id = ?", (job_id,)).fetchall()]
    finally:
        store.close()


def test_run_stores_the_webhook_and_its_events(make_client: Callable[..., TestClient[Litestar]],
                                              db_path: str) -> None:
    client = make_client()
    body = {"workflow": WORKFLOW, "images": IMAGES, "webhook": "https://93.184.215.14/hook?t=1",
            "webhook_events": ["job.started", "job.completed"]}
    response = client.post("/run", json=body)
    assert response.status_code == 200, response.text
    assert hooks(db_path, response.json()["job_id"]) == [
        ("https://93.184.215.14/hook?t=1", '["job.started","job.completed"]')]


def test_runpod_shaped_body_takes_webhook_beside_input(make_client: Callable[..., TestClient[Litestar]],
                                                       db_path: str) -> None:
    client = make_client()
    response = client.post("/run", json={"input": {"workflow": WORKFLOW, "images": IMAGES},
                                         "webhook": "http://93.184.215.14:8080/x"})
    assert response.status_code == 200, response.text
    assert hooks(db_path, response.json()["job_id"]) == [
        ("http://93.184.215.14:8080/x", '["job.completed","job.failed","job.cancelled"]')]


def test_webhook_url_setting_is_the_default(make_client: Callable[..., TestClient[Litestar]], db_path: str) -> None:
    client = make_client(webhook_url="https://93.184.215.14/default")
    response = client.post("/run", json={"workflow": WORKFLOW, "images": IMAGES})
    assert hooks(db_path, response.json()["job_id"])[0][0] == "https://93.184.215.14/default"


def test_no_webhook_stores_none(make_client: Callable[..., TestClient[Litestar]], db_path: str) -> None:
    response = make_client().post("/run", json={"workflow": WORKFLOW, "images": IMAGES})
    assert hooks(db_path, response.json()["job_id"]) == []


@pytest.mark.parametrize(("fields", "named"), [
    ({"webhook": "http://127.0.0.1:9/x"}, "webhook"),  # loopback
    ({"webhook": "http://[::ffff:10.0.0.1]/x"}, "webhook"),  # private, as IPv4-mapped IPv6
    ({"webhook": "http://169.254.169.254/latest/meta-data"}, "webhook"),  # cloud metadata
    ({"webhook": "http://2130706433/"}, "webhook"),  # 127.0.0.1 as an integer
    ({"webhook": "file:///etc/passwd"}, "webhook"),
    ({"webhook": "http://user:pw@93.184.215.14/"}, "webhook"),
    ({"webhook": "http://93.184.215.14/" + "a" * 5000}, "webhook"),
    ({"webhook": "https://93.184.215.14/", "webhook_events": ["job.exploded"]}, "webhook_events"),
    ({"webhook": "https://93.184.215.14/", "webhook_events": []}, "webhook_events"),
    ({"webhook_events": ["job.completed"]}, "webhook_events"),
])
def test_refused_webhook_is_a_400_naming_the_field(client: TestClient[Litestar], db_path: str,
                                                   fields: dict[str, object], named: str) -> None:
    for route in ("/run", "/runsync"):
        response = client.post(route, json={"workflow": WORKFLOW, "images": IMAGES, **fields})
        assert response.status_code == 400, response.text
        assert named in response.json()["detail"] and response.json()["field"] == named
    assert Store(db_path).stats()["total"] == 0


def test_a_webhook_of_the_wrong_type_is_a_400(client: TestClient[Litestar]) -> None:
    response = client.post("/run", json={"workflow": WORKFLOW, "images": IMAGES, "webhook": ["x"]})
    assert response.status_code == 400 and "webhook" in response.json()["detail"]


def test_allow_private_lets_loopback_through(make_client: Callable[..., TestClient[Litestar]]) -> None:
    client = make_client(webhook_allow_private=True)
    response = client.post("/run", json={"workflow": WORKFLOW, "images": IMAGES, "webhook": "http://127.0.0.1:9/"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("values", "variable"), [
    ({"webhook_secret": "not-a-secret"}, "WEBHOOK_SECRET"),
    ({"webhook_secret": "whsec_%%%"}, "WEBHOOK_SECRET"),
    ({"webhook_secret": "whsec_c2hvcnQ="}, "WEBHOOK_SECRET"),  # a 5-byte key
    ({"webhook_url": "http://10.0.0.1/"}, "WEBHOOK_URL"),
    ({"public_base_url": "ftp://x"}, "PUBLIC_BASE_URL"),
])
def test_bad_webhook_settings_name_their_variable(values: dict[str, str], variable: str) -> None:
    why = problem(Settings(**values))  # type: ignore[arg-type]
    assert why is not None and why.startswith(variable)
    assert "not-a-secret" not in why and "%%%" not in why


def test_good_webhook_settings_pass() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert problem(Settings(webhook_secret=secret, webhook_url="https://93.184.215.14/")) is None
