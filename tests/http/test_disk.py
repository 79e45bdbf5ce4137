"""A store without room: 507 before anything is written (MIN_FREE_DISK_MB, a full store), /health and /stats
show the disk, and outputs removed by STORE_MAX_MB say so in /status.

Low free disk space is simulated through the store's free-space function (the one seam for statvfs); a full
store is real: SQLite's page limit (``PRAGMA max_page_count``) on the app's own connection."""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar import Litestar
from litestar.testing import TestClient

from store import Store
from store.testing import fill_outputs
from tests.http.conftest import WORKFLOW, complete, submit

MB = 1024 * 1024



def set_free(client: TestClient[Litestar], free_mb: float) -> None:
    client.app.state.service.store.free_space = lambda folder: int(free_mb * MB)


def test_below_min_free_disk_new_jobs_get_507_naming_the_free_space_and_nothing_is_written(
        make_client: Callable[..., TestClient[Litestar]], store: Store) -> None:
    client = make_client(min_free_disk_mb=1024)
    set_free(client, 100)
    for route in ("/run", "/runsync"):
        response = client.post(route, json={"workflow": WORKFLOW})
        assert response.status_code == 507, response.text
        detail = response.json()["detail"]
        assert "100.0 MB free on the disk of" in detail and "MIN_FREE_DISK_MB=1024" in detail
        assert "/admin/cleanup" in detail and "CLEANUP_MAX_AGE_HOURS" in detail
    assert store.stats()["total"] == 0
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["detail"].startswith("disk low") and health.json()["disk"]["state"] == "low"
    set_free(client, 5000)
    assert client.get("/health").status_code == 200
    submit(client)
    assert store.stats()["total"] == 1


def test_a_write_that_meets_a_full_store_gets_507_not_500(make_client: Callable[..., TestClient[Litestar]],
                                                            store: Store) -> None:
    client = make_client(min_free_disk_mb=0, max_request_mb=10)
    service_store = client.app.state.service.store
    pages = service_store.conn.execute("PRAGMA page_count").fetchone()[0]
    service_store.conn.execute(f"PRAGMA max_page_count = {pages + 300}")  # 1.2 MB of room: the floor passes
    big = {"workflow": {**WORKFLOW, "3": {"class_type": "Note", "inputs": {"text": "x" * 2_000_000}}}}
    response = client.post("/run", json=big)
    assert response.status_code == 507, response.text
    assert "job store is full (FullError" in response.json()["detail"]
    assert "MB free on the disk of" in response.json()["detail"]
    assert store.stats()["total"] == 0
    submit(client)  # a job that fits still does


def test_a_full_store_gets_507_and_health_503_naming_the_disk_until_cleanup(
        make_client: Callable[..., TestClient[Litestar]], store: Store) -> None:
    client = make_client(min_free_disk_mb=0)
    service_store = client.app.state.service.store
    pages = service_store.conn.execute("PRAGMA page_count").fetchone()[0]
    service_store.conn.execute(f"PRAGMA max_page_count = {pages}")
    fill_outputs(store, 40, 64 * 1024, time.time() - 3600)  # grows the file past the app connection's limit
    response = client.post("/run", json={"workflow": WORKFLOW})
    assert response.status_code == 507, response.text
    assert response.json()["detail"].startswith("disk full: the job store is full (0.0 MB of room left")
    health = client.get("/health")
    assert health.status_code == 503 and health.json()["detail"].startswith("disk full")
    assert client.post("/admin/cleanup", params={"max_age_hours": 0}).json()["deleted_jobs"] == 40
    assert client.get("/health").status_code == 200
    submit(client)


def test_stats_and_health_show_store_size_and_free_space(client: TestClient[Litestar], store: Store) -> None:
    set_free(client, 2048)
    submit(client)
    for body in (client.get("/stats").json(), client.get("/health").json()):
        disk = body["disk"]
        assert disk["state"] == "ok" and disk["disk_free_bytes"] == 2048 * MB
        assert disk["store_bytes"] >= disk["store_used_bytes"] > 0
        assert disk["room_bytes"] >= 2048 * MB and disk["min_free_bytes"] == 1024 * MB  # the default


def test_outputs_removed_by_the_size_cap_are_marked_removed_in_status(client: TestClient[Litestar],
                                                                       store: Store) -> None:
    old, new = submit(client), submit(client)
    complete(store, old, b"\x89PNG" + b"a" * 200_000)
    complete(store, new, b"\x89PNG" + b"b" * 200_000)
    used = store.space().store_used_bytes
    jobs, freed = store.evict_outputs(used - 100_000, batch=1)
    assert (jobs, freed > 150_000) == (1, True)
    [entry] = client.get(f"/status/{old}").json()["result"]["images"]
    assert entry["type"] == "removed" and "STORE_MAX_MB" in entry["detail"] and "data" not in entry
    assert entry["filename"] == "out.png"
    assert client.get(f"/jobs/{old}/outputs/0").status_code == 404
    [kept] = client.get(f"/status/{new}").json()["result"]["images"]
    assert kept["type"] == "base64" and kept["data"]
