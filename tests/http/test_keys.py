"""Named API keys in the app: who sees which job, the limits of a key, the audit table; and the keys file."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from config import keys as keyfile
from config.keys import Client, KeyLimits, KeysFile, KeysFileError, Role
from store import Store
from tests.http.conftest import WORKFLOW, complete
from transports.errors import OverQuota
from transports.http import clients as clients_module
from transports.requests import JobRequest
from transports.service import JobService

MakeClient = Callable[..., TestClient[Litestar]]
ALICE, BOB, BOSS, CAROL = "alice-key", "bob-key", "boss-key", "carol-key"


def keys_file(path: Path, **limits: Any) -> str:
    clients = {
        "alice": Client(key_sha256=keyfile.key_hash(ALICE)),
        "bob": Client(key_sha256=keyfile.key_hash(BOB)),
        "boss": Client(key_sha256=keyfile.key_hash(BOSS), role=Role.ADMIN),
        "carol": Client(key_sha256=keyfile.key_hash(CAROL), limits=KeyLimits(**limits)),
    }
    keyfile.write(str(path), KeysFile(clients=clients))
    return str(path)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app(make_client: MakeClient, tmp_path: Path) -> TestClient[Litestar]:
    return make_client(api_keys_file=keys_file(tmp_path / "keys.toml", max_pending=2, max_priority=5,
                                               max_request_mb=0.002))


def run(client: TestClient[Litestar], key: str, **body: Any) -> str:
    response = client.post("/run", json={"workflow": WORKFLOW, **body}, headers=auth(key))
    assert response.status_code == 200, response.text
    return str(response.json()["job_id"])


def test_a_client_sees_only_its_own_jobs_and_another_clients_job_is_404_like_an_unknown_one(
        app: TestClient[Litestar], store: Store) -> None:
    mine, theirs = run(app, ALICE), run(app, BOB)
    complete(store, mine)
    unknown = app.get("/status/00000000-0000-0000-0000-000000000000", headers=auth(BOB))
    for method, path in [("GET", f"/status/{mine}"), ("GET", f"/status/{mine}?wait=1"),
                         ("POST", f"/cancel/{mine}"), ("GET", f"/jobs/{mine}/outputs/0")]:
        response = app.request(method, path, headers=auth(BOB))
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == unknown.json()["detail"].replace(
            "00000000-0000-0000-0000-000000000000", mine)
    assert [j["id"] for j in app.get("/jobs", headers=auth(BOB)).json()["jobs"]] == [theirs]
    stats = app.get("/stats", params={"include_recent": True}, headers=auth(BOB)).json()
    assert [j["id"] for j in stats["recent_jobs"]] == [theirs] and set(stats["clients"]) == {"bob"}
    assert app.get(f"/status/{mine}", headers=auth(ALICE)).json()["status"] == "completed"
    assert app.get(f"/jobs/{mine}/outputs/0", headers=auth(ALICE)).status_code == 200


def test_an_admin_sees_every_job_and_filters_by_owner(app: TestClient[Litestar]) -> None:
    mine, theirs = run(app, ALICE), run(app, BOB)
    assert {j["id"] for j in app.get("/jobs", headers=auth(BOSS)).json()["jobs"]} == {mine, theirs}
    listed = app.get("/jobs", params={"owner": "alice"}, headers=auth(BOSS)).json()["jobs"]
    assert [j["id"] for j in listed] == [mine]
    assert set(app.get("/stats", headers=auth(BOSS)).json()["clients"]) == {"alice", "bob"}
    assert app.get(f"/status/{mine}", headers=auth(BOSS)).status_code == 200
    assert app.post(f"/cancel/{theirs}", headers=auth(BOSS)).json()["status"] == "cancelled"
    # a user may not ask for another client's jobs
    refused = app.get("/jobs", params={"owner": "bob"}, headers=auth(ALICE))
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]


def test_admin_routes_need_an_admin_key_and_are_audited(app: TestClient[Litestar], store: Store) -> None:
    job = run(app, ALICE)
    refused = app.post("/admin/cleanup", headers=auth(ALICE))
    assert refused.status_code == 403 and refused.headers["www-authenticate"].endswith('"insufficient_scope"')
    assert app.post("/admin/cleanup", params={"max_age_hours": 1}, headers=auth(BOSS)).status_code == 200
    assert app.delete(f"/admin/job/{job}", headers=auth(BOSS)).status_code == 409  # pending
    assert app.post("/admin/reset-stuck", headers=auth(BOSS)).status_code == 200
    entries = [(e.actor, e.action, e.target, e.result) for e in reversed(store.audit_entries())]
    assert entries == [("boss", "admin.cleanup", None, "ok"), ("boss", "admin.delete_job", job, "InvalidTransition"),
                       ("boss", "admin.reset_stuck", None, "ok")]
    assert store.audit_entries()[-1].detail == {"max_age_hours": 1.0, "deleted_jobs": 0}


def test_unknown_missing_and_hostile_keys_are_refused(app: TestClient[Litestar]) -> None:
    for headers in ({}, auth("nobody"), auth("x" * 10_000), {"X-API-Key": ALICE[:-1]},
                    {"Authorization": f"Basic {ALICE}"}, auth(keyfile.key_hash(ALICE))):  # the hash is no key
        response = app.get("/jobs", headers=headers)
        assert response.status_code == 401, headers
    assert app.get("/health").status_code == 200  # still open
    assert app.get("/health").json() == {"status": "healthy"}  # details only with a key
    health = app.get("/health", headers=auth(ALICE)).json()
    assert "job_stats" in health and "warnings" not in health  # named keys: the API is not open


def test_max_pending_counts_the_clients_pending_jobs_exactly(app: TestClient[Litestar], store: Store) -> None:
    first, _ = run(app, CAROL), run(app, CAROL)
    refused = app.post("/run", json={"workflow": WORKFLOW}, headers=auth(CAROL))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert refused.json()["limit"] == "max_pending" and "2 pending" in refused.json()["detail"]
    assert app.post("/runsync", json={"workflow": WORKFLOW}, headers=auth(CAROL)).status_code == 429
    run(app, ALICE)  # another client's pending jobs do not count
    app.post(f"/cancel/{first}", headers=auth(CAROL))
    run(app, CAROL)
    assert store.pending_of("carol") == 2


def test_max_pending_holds_for_a_burst_submitted_in_one_loop_turn(store: Store) -> None:
    async def main() -> list[str]:
        service = JobService(store)

        async def one() -> str:
            try:
                await service.submit_batched(JobRequest(workflow=WORKFLOW), "carol", 2)
            except OverQuota:
                return "over"
            return "ok"

        try:
            return list(await asyncio.gather(*(one() for _ in range(6))))
        finally:
            await service.close()

    assert sorted(asyncio.run(main())) == ["ok"] * 2 + ["over"] * 4
    assert store.pending_of("carol") == 2


def test_priority_and_request_size_limits_answer_429(app: TestClient[Litestar]) -> None:
    refused = app.post("/run", json={"workflow": WORKFLOW, "priority": 6}, headers=auth(CAROL))
    assert refused.status_code == 429 and refused.json()["limit"] == "max_priority"
    assert int(refused.headers["retry-after"]) >= 1
    assert app.post("/run", json={"workflow": WORKFLOW, "priority": 5}, headers=auth(CAROL)).status_code == 200
    big = {"workflow": WORKFLOW, "padding": "x" * 3000}
    refused = app.post("/run", json=big, headers=auth(CAROL))
    assert refused.status_code == 429 and refused.json()["limit"] == "max_request_mb"
    assert app.post("/run", json={"workflow": WORKFLOW, "priority": 99}, headers=auth(ALICE)).status_code == 200


def test_requests_per_second_answers_429_with_retry_after(make_client: MakeClient, tmp_path: Path) -> None:
    app = make_client(api_keys_file=keys_file(tmp_path / "k.toml", requests_per_second=3))
    codes = [app.get("/jobs", headers=auth(CAROL)) for _ in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert codes[3].json()["limit"] == "requests_per_second" and 1 <= int(codes[3].headers["retry-after"]) <= 1
    assert app.get("/jobs", headers=auth(ALICE)).status_code == 200  # per key, not global
    time.sleep(1.05)
    assert app.get("/jobs", headers=auth(CAROL)).status_code == 200


def test_default_limits_apply_to_keys_that_name_none(make_client: MakeClient, tmp_path: Path) -> None:
    app = make_client(api_keys_file=keys_file(tmp_path / "k.toml", max_pending=5),
                      key_default_max_pending=1)
    run(app, ALICE)
    assert app.post("/run", json={"workflow": WORKFLOW}, headers=auth(ALICE)).status_code == 429
    run(app, CAROL)
    run(app, CAROL)  # carol's own limit (5) wins over the default


def test_a_revoked_key_is_refused_and_an_added_one_accepted_without_restart(app: TestClient[Litestar],
                                                                            tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "keys.toml")
    assert app.get("/jobs", headers=auth(BOB)).status_code == 200
    with keyfile.editing(path) as box:
        clients = {n: c for n, c in box[0].clients.items() if n != "bob"}
        clients["dave"] = Client(key_sha256=keyfile.key_hash("dave-key"))
        box[0] = KeysFile(clients=clients)
    deadline = time.monotonic() + 1.0
    while app.get("/jobs", headers=auth(BOB)).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works after a second"
        time.sleep(0.05)
    assert app.get("/jobs", headers=auth("dave-key")).status_code == 200


def test_a_broken_keys_file_keeps_the_clients_it_had(app: TestClient[Litestar], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients_module, "RECHECK_S", 0.0)
    (tmp_path / "keys.toml").write_text("[clients.x\nbroken")
    assert app.get("/jobs", headers=auth(ALICE)).status_code == 200


def test_the_keys_file_is_checked_at_start(make_client: MakeClient, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    for text, why in [("[clients.default]\nkey_sha256 = '" + "0" * 64 + "'\n", "reserved"),
                      ("[clients.a]\nkey_sha256 = 'nothex'\n", "key_sha256"),
                      ("[clients.a]\nkey_sha256 = '" + "0" * 64 + "'\nrole = 'root'\n", "role"),
                      ("[clients.a]\nkey_sha256 = '" + "0" * 64 + "'\n[clients.b]\nkey_sha256 = '" + "0" * 64
                       + "'\n", "same key"),
                      ("[clients.'a b']\nkey_sha256 = '" + "0" * 64 + "'\n", "must be"),
                      ("[clients.a]\nkey_sha256 = '" + "0" * 64 + "'\nextra = 1\n", "extra")]:
        bad.write_text(text)
        with pytest.raises(KeysFileError, match=why):
            make_client(api_keys_file=str(bad))


def test_the_keys_file_round_trips_and_is_private(tmp_path: Path) -> None:
    for name in ("keys.toml", "keys.json"):
        path = keys_file(tmp_path / name, requests_per_second=2, max_request_mb=1.5)
        assert os.stat(path).st_mode & 0o777 == 0o600
        loaded = keyfile.read(path)
        assert loaded.clients["carol"].limits == KeyLimits(requests_per_second=2, max_request_mb=1.5)
        assert loaded.clients["boss"].role is Role.ADMIN
