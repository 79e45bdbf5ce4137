"""Named API keys on the real daemon (``comfyui-worker run`` with the fake ComfyUI), keys made by the real CLI.

Two clients cannot see, download, cancel or list each other's jobs: every route of the OpenAPI schema is
called with the other client's key (a route added later fails here until it is covered); an admin can; a
revoked key is refused within a second of the file changing; each limit answers 429 with Retry-After; the
audit log and table hold what was done; the store and the keys file are private to the daemon's user.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import Store
from tests.supervisor.harness import ROOT, RunningDaemon, workflow

Check = Callable[["Keys", str], None]


class Keys:
    """The daemon and the keys the CLI printed."""

    def __init__(self, daemon: RunningDaemon, keys: dict[str, str]) -> None:
        self.daemon, self.keys = daemon, keys

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who in self.keys else {}
        return self.daemon.client.request(method, self.daemon.url + path, headers=headers, **kwargs)

    def submit(self, who: str, **body: Any) -> str:
        response = self.call(who, "POST", "/run", json={"workflow": workflow(len(self.keys)), **body})
        assert response.status_code == 200, response.text
        return str(response.json()["job_id"])


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervisor", "keys", *args], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Keys]:
    keys_path = str(tmp_path / "keys.toml")
    daemon = RunningDaemon(tmp_path, API_KEYS_FILE=keys_path, FAKE_COMFYUI_DELAY_MS="0")
    made: dict[str, str] = {}
    for name, flags in [("alice", []), ("bob", []), ("boss", ["--admin"]),
                        ("carol", ["--max-pending", "1", "--max-priority", "3", "--max-request-mb", "0.01",
                                   "--requests-per-second", "50"]),
                        ("dave", ["--requests-per-second", "2"])]:
        done = cli(daemon.env, "add", name, *flags)
        assert done.returncode == 0, done.stderr
        made[name] = done.stdout.strip()
    daemon.start()
    try:
        daemon.wait_ready()
        yield Keys(daemon, made)
    finally:
        daemon.close()


def _status(k: Keys, job: str) -> None:
    assert k.call("bob", "GET", f"/status/{job}").status_code == 404
    assert k.call("bob", "GET", f"/status/{job}", params={"wait": 1}).status_code == 404


def _cancel(k: Keys, job: str) -> None:
    assert k.call("bob", "POST", f"/cancel/{job}").status_code == 404


def _output(k: Keys, job: str) -> None:
    assert k.call("bob", "GET", f"/jobs/{job}/outputs/0").status_code == 404


def _jobs(k: Keys, job: str) -> None:
    assert job not in {j["id"] for j in k.call("bob", "GET", "/jobs").json()["jobs"]}
    assert k.call("bob", "GET", "/jobs", params={"owner": "alice"}).status_code == 403


def _stats(k: Keys, job: str) -> None:
    body = k.call("bob", "GET", "/stats", params={"include_recent": True}).json()
    assert job not in {j["id"] for j in body["recent_jobs"]} and set(body["clients"]) <= {"bob"}


def _run(k: Keys, job: str) -> None:  # a submit makes bob's own job: alice's stays hers
    mine = k.call("bob", "POST", "/run", json={"workflow": workflow(7)}).json()["job_id"]
    assert k.call("alice", "GET", f"/status/{mine}").status_code == 404


def _runsync(k: Keys, job: str) -> None:
    body = k.call("bob", "POST", "/runsync", json={"workflow": workflow(8)}).json()
    assert body["job_id"] != job and k.call("alice", "GET", f"/status/{body['job_id']}").status_code == 404


def _admin(method: str, path: str) -> Check:
    def check(k: Keys, job: str) -> None:
        response = k.call("bob", method, path.format(job_id=job))
        assert response.status_code == 403, (method, path, response.text)
    return check


def _public(k: Keys, job: str) -> None:
    body = k.call("bob", "GET", "/health").json()
    assert job not in json.dumps(body)


V2 = "/v2/ep1"


def _v2_job(method: str, route: str) -> Check:
    def check(k: Keys, job: str) -> None:
        response = k.call("bob", method, f"{V2}/{route}/{job}")
        assert response.status_code == 404, (method, route, response.text)
        assert k.call("alice", method, f"{V2}/{route}/{job}").status_code == 200
    return check


def _v2_run(route: str) -> Check:
    def check(k: Keys, job: str) -> None:
        body = k.call("bob", "POST", f"{V2}/{route}", json={"input": {"workflow": workflow(9)}}).json()
        assert body["id"] != job and k.call("alice", "GET", f"{V2}/status/{body['id']}").status_code == 404
        assert k.call("bob", "GET", f"{V2}/status/{body['id']}").status_code == 200
    return check


def _v2_health(k: Keys, job: str) -> None:  # RunPod's endpoint counts: numbers, no job
    body = k.call("bob", "GET", f"{V2}/health").json()
    assert set(body) == {"jobs", "workers"} and job not in json.dumps(body)


CHECKS: dict[tuple[str, str], Check] = {
    ("GET", "/status/{job_id}"): _status,
    ("POST", "/cancel/{job_id}"): _cancel,
    ("GET", "/jobs/{job_id}/outputs/{index}"): _output,
    ("GET", "/jobs"): _jobs,
    ("GET", "/stats"): _stats,
    ("POST", "/run"): _run,
    ("POST", "/runsync"): _runsync,
    ("GET", "/health"): _public,
    ("POST", "/admin/cleanup"): _admin("POST", "/admin/cleanup"),
    ("POST", "/admin/reset-stuck"): _admin("POST", "/admin/reset-stuck"),
    ("DELETE", "/admin/job/{job_id}"): _admin("DELETE", "/admin/job/{job_id}"),
    ("GET", "/v2/{endpoint_id}/status/{job_id}"): _v2_job("GET", "status"),
    ("POST", "/v2/{endpoint_id}/status/{job_id}"): _v2_job("POST", "status"),
    ("GET", "/v2/{endpoint_id}/stream/{job_id}"): _v2_job("GET", "stream"),
    ("POST", "/v2/{endpoint_id}/stream/{job_id}"): _v2_job("POST", "stream"),
    ("POST", "/v2/{endpoint_id}/cancel/{job_id}"): _v2_job("POST", "cancel"),
    ("POST", "/v2/{endpoint_id}/run"): _v2_run("run"),
    ("POST", "/v2/{endpoint_id}/runsync"): _v2_run("runsync"),
    ("GET", "/v2/{endpoint_id}/health"): _v2_health,
    ("POST", "/v2/{endpoint_id}/purge-queue"): _admin("POST", V2 + "/purge-queue"),
}


def test_two_clients_cannot_reach_each_others_jobs_on_any_route_and_an_admin_can(keyed: Keys) -> None:
    job = keyed.submit("alice")
    keyed.daemon.wait_jobs([job], {"completed"}, 20)
    schema = keyed.call("alice", "GET", "/schema/openapi.json").json()
    routes = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert routes == set(CHECKS), f"routes without a cross-client check: {routes - set(CHECKS)}"
    for route in sorted(routes):
        CHECKS[route](keyed, job)
    # alice and the admin still see it whole
    assert keyed.call("alice", "GET", f"/status/{job}").json()["status"] == "completed"
    assert keyed.call("alice", "GET", f"/jobs/{job}/outputs/0").content[:4] == b"\x89PNG"
    assert keyed.call("boss", "GET", f"/jobs/{job}/outputs/0").content[:4] == b"\x89PNG"
    listed = keyed.call("boss", "GET", "/jobs", params={"owner": "alice"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job]
    assert keyed.call("boss", "DELETE", f"/admin/job/{job}").status_code == 200
    assert keyed.call("alice", "GET", f"/status/{job}").status_code == 404


def test_a_revoked_key_is_refused_within_a_second(keyed: Keys) -> None:
    assert keyed.call("bob", "GET", "/jobs").status_code == 200
    done = cli(keyed.daemon.env, "revoke", "bob")
    assert done.returncode == 0, done.stderr
    revoked_at = time.monotonic()
    while keyed.call("bob", "GET", "/jobs").status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "the revoked key still works a second later"
        time.sleep(0.02)
    assert keyed.call("alice", "GET", "/jobs").status_code == 200
    added = cli(keyed.daemon.env, "add", "erin")
    assert added.returncode == 0
    keyed.keys["erin"] = added.stdout.strip()
    deadline = time.monotonic() + 1.0
    while keyed.call("erin", "GET", "/jobs").status_code != 200:
        assert time.monotonic() < deadline, "a new key is not accepted a second later"
        time.sleep(0.02)


def test_each_limit_answers_429_with_retry_after(keyed: Keys) -> None:
    keyed.daemon.client.post(f"{keyed.daemon.url}/_never", timeout=5)  # warm the connection
    # max_priority: 3
    over = keyed.call("carol", "POST", "/run", json={"workflow": workflow(1), "priority": 4})
    assert over.status_code == 429 and over.json()["limit"] == "max_priority" and over.headers["retry-after"]
    # max_request_mb: 0.01 (10 KB)
    big = {"workflow": workflow(2), "padding": "x" * 20_000}
    over = keyed.call("carol", "POST", "/run", json=big)
    assert over.status_code == 429 and over.json()["limit"] == "max_request_mb" and over.headers["retry-after"]
    # requests_per_second: 2
    codes = [keyed.call("dave", "GET", "/jobs") for _ in range(4)]
    refused = [r for r in codes if r.status_code == 429]
    assert refused and refused[0].json()["limit"] == "requests_per_second"
    assert int(refused[0].headers["retry-after"]) >= 1
    # max_pending: 1, while the only executor is busy with another client's slow jobs
    fake = f"http://127.0.0.1:{keyed.daemon.comfyui_port}/_fake/config"
    assert keyed.daemon.client.post(fake, json={"delay_ms": 4000}).status_code == 200
    slow = [keyed.submit("alice") for _ in range(3)]
    keyed.daemon.wait_for(lambda: sum(j.status == "running" for j in keyed.daemon.jobs().values()) >= 2, 10,
                          "the executor busy")
    first = keyed.submit("carol")
    over = keyed.call("carol", "POST", "/run", json={"workflow": workflow(3)})
    assert over.status_code == 429 and over.json()["limit"] == "max_pending" and over.headers["retry-after"] == "1"
    assert keyed.daemon.jobs()[first].status == "pending"
    assert keyed.call("carol", "POST", f"/cancel/{first}").json()["status"] == "cancelled"
    keyed.submit("carol")  # room again
    keyed.call("boss", "POST", "/admin/cleanup")
    assert slow


def test_audit_log_and_table_hold_what_was_done(keyed: Keys) -> None:
    job = keyed.submit("alice")
    assert keyed.call("boss", "POST", "/admin/cleanup", params={"max_age_hours": 1}).status_code == 200
    keyed.daemon.wait_jobs([job], {"completed"}, 20)
    assert keyed.call("boss", "DELETE", f"/admin/job/{job}").status_code == 200
    store = Store(keyed.daemon.db_path)
    try:
        entries = [(e.actor, e.action, e.target) for e in reversed(store.audit_entries())]
    finally:
        store.close()
    assert [e for e in entries if e[1].startswith("keys.")] == [
        (entries[0][0], "keys.add", name) for name in ("alice", "bob", "boss", "carol", "dave")]
    assert ("boss", "admin.cleanup", None) in entries and ("boss", "admin.delete_job", job) in entries
    lines = [r for r in keyed.daemon.events("http_request") if r.get("method") in ("POST", "DELETE")]
    submit = next(r for r in lines if r["path"] == "/run" and r.get("job_id") == job)
    assert submit["client"] == "alice" and submit["status"] == 200
    delete = next(r for r in lines if r["path"] == f"/admin/job/{job}")
    assert delete["client"] == "boss" and delete["job_id"] == job
    text = b"".join(keyed.daemon.lines)
    for key in keyed.keys.values():
        assert key.encode() not in text  # names, never keys


def test_the_store_and_the_keys_file_are_private(keyed: Keys) -> None:
    keyed.submit("alice")
    db = keyed.daemon.db_path
    for path in (db, db + "-wal", db + "-shm", keyed.daemon.env["API_KEYS_FILE"]):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
