"""Each child of ``comfyui-worker run`` holds only the secrets it needs: read from its /proc/<pid>/environ."""

from __future__ import annotations

import sys

import apsw
import pytest

from config.settings import env_name, fields
from supervisor import secrets
from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")

SECRETS = {
    "API_KEY": "secret-api-key-1111", "ADMIN_API_KEY": "secret-admin-key-2222",
    "BUCKET_ACCESS_KEY_ID": "secret-bucket-id-3333", "BUCKET_SECRET_ACCESS_KEY": "secret-bucket-key-4444",
    "AWS_SECRET_ACCESS_KEY": "secret-aws-key-5555", "COMFY_ORG_API_KEY": "secret-comfy-org-6666",
    "RUNPOD_AI_API_KEY": "secret-runpod-key-7777",
}
BUCKET = {"BUCKET_ACCESS_KEY_ID", "BUCKET_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"}


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def secrets_seen(d: RunningDaemon, name: str) -> set[str]:
    """The secret variables whose value appears anywhere in the environment of child ``name``."""
    pid = d.components()[name]["pid"]
    assert pid, name
    blob = "\0".join(f"{k}={v}" for k, v in environ_of(pid).items())
    return {var for var, value in SECRETS.items() if value in blob}


def test_http_mode_comfyui_gets_no_secret_executor_bucket_and_comfy_org_http_api_keys(daemons, tmp_path) -> None:
    d = RunningDaemon(tmp_path, 1, **SECRETS)
    daemons.append(d)
    d.start().wait_ready()
    assert secrets_seen(d, "comfyui-0") == set()
    assert secrets_seen(d, "executor-0") == BUCKET | {"COMFY_ORG_API_KEY"}
    assert secrets_seen(d, "http") == {"API_KEY", "ADMIN_API_KEY"}


def test_runpod_mode_transport_gets_runpod_and_bucket_keys_only(daemons, tmp_path) -> None:
    webhook = Webhook()
    try:
        d = ServerlessDaemon(tmp_path, webhook, **SECRETS)
        daemons.append(d)
        d.start().wait_ready()
        assert secrets_seen(d, "comfyui-0") == set()
        assert secrets_seen(d, "executor-0") == BUCKET | {"COMFY_ORG_API_KEY"}
        assert secrets_seen(d, "runpod") == BUCKET | {"RUNPOD_AI_API_KEY"}
    finally:
        webhook.close()


NOT_SECRET = {"OUTPUT_KEY_TEMPLATE"}  # an S3 object key's template: the executor and transports need it


def test_every_secret_looking_setting_is_withheld_from_comfyui() -> None:
    """A new key or secret setting cannot reach ComfyUI by being forgotten in supervisor/secrets.py."""
    looks_secret = {env_name(f.name) for f in fields() if "key" in f.name or "secret" in f.name
                    or "token" in f.name or "password" in f.name} - NOT_SECRET
    assert looks_secret
    assert looks_secret <= secrets.withheld("comfyui")
    assert secrets.withheld("comfyui") == secrets.ALL
    assert secrets.withheld("something-new") == secrets.ALL


def test_a_per_request_comfy_org_key_is_never_returned_and_gone_once_the_job_ended(daemons, tmp_path) -> None:
    d = RunningDaemon(tmp_path, 1, API_KEY="k3y")
    daemons.append(d)
    d.start().wait_ready()
    auth = {"Authorization": "Bearer k3y"}
    key = "comfy-org-per-request-9999"
    ids = []
    for flow in (workflow(3), {"1": {"class_type": "NoSuchNode", "inputs": {}}}):  # one completes, one fails
        response = d.client.post(f"{d.url}/run", json={"workflow": flow, "comfy_org_api_key": key}, headers=auth)
        assert response.status_code == 200, response.text
        ids.append(response.json()["job_id"])
    d.wait_jobs(ids, {"completed", "failed"}, timeout=20)
    assert {str(j.status) for j in d.jobs().values()} == {"completed", "failed"}
    for path in (*(f"/status/{i}" for i in ids), "/jobs", "/stats?include_recent=true", "/health"):
        response = d.client.get(f"{d.url}{path}", headers=auth)
        assert response.status_code == 200 and key not in response.text, path
    conn = apsw.Connection(d.db_path)
    try:
        assert all(key not in request for (request,) in conn.execute("SELECT request FROM jobs"))
    finally:
        conn.close()


def test_the_forwarder_alone_gets_the_runpod_key(daemons, tmp_path) -> None:
    """With overflow set up, RUNPOD_API_KEY reaches the forwarder and no other child of an HTTP-mode daemon."""
    runpod_key = {"RUNPOD_API_KEY": "secret-runpod-key-8888"}
    SECRETS.update(runpod_key)
    try:
        d = RunningDaemon(tmp_path, 1, **SECRETS, RUNPOD_OVERFLOW_ENDPOINT_ID="ep",
                          RUNPOD_OVERFLOW_BASE_URL="http://127.0.0.1:9/v2", RUNPOD_OVERFLOW_WAIT_S="86400")
        daemons.append(d)
        d.start().wait_ready()
        d.wait_for(lambda: d.components().get("forwarder", {}).get("state") == "running", 20, "the forwarder")
        assert secrets_seen(d, "forwarder") == {"RUNPOD_AI_API_KEY", "RUNPOD_API_KEY"}
        for child in ("comfyui-0", "executor-0", "http"):
            assert not secrets_seen(d, child) & {"RUNPOD_AI_API_KEY", "RUNPOD_API_KEY"}, child
    finally:
        del SECRETS["RUNPOD_API_KEY"]
