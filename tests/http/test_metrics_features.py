"""/metrics carries the figures of webhooks, the watchdog's and backups' actions and jobs per client, and the
whole exposition still passes promtool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient

from config import keys as keyfile
from config.keys import Client, KeysFile
from store import Store
from tests.http.conftest import WORKFLOW
from tests.http.test_metrics import samples
from tests.monitoring.prometheus import promtool_check

MakeClient = Callable[..., TestClient[Litestar]]


def test_feature_figures_are_in_metrics(make_client: MakeClient, store: Store, tmp_path: Path) -> None:
    path = str(tmp_path / "keys.toml")
    keyfile.write(path, KeysFile(clients={"alice": Client(key_sha256=keyfile.key_hash("a")),
                                          "bob": Client(key_sha256=keyfile.key_hash("b"))}))
    client = make_client(api_keys_file=path)
    before = samples(client.get("/metrics", headers={"X-API-Key": "a"}).text)
    assert before[("comfyui_worker_operations_total", (("operation", "backup_completed"),))] == 0
    assert before[("comfyui_worker_webhook_backlog", ())] == 0
    for key, n in (("a", 2), ("b", 1)):
        for _ in range(n):
            assert client.post("/run", json={"workflow": WORKFLOW}, headers={"X-API-Key": key}).status_code == 200
    store.record_operation("backup_completed", path="/backups/x")
    store.warmup_started(0, "w0")
    store.warmup_finished(0, "w0", duration_s=1.25)
    store.record_operation("memory_restart", rss_mb=9000)
    text = client.get("/metrics").text
    after = samples(text)
    assert after[("comfyui_worker_client_jobs", (("client", "alice"), ("status", "pending")))] == 2
    assert after[("comfyui_worker_client_jobs", (("client", "bob"), ("status", "pending")))] == 1
    assert after[("comfyui_worker_operations_total", (("operation", "backup_completed"),))] == 1
    assert after[("comfyui_worker_operations_total", (("operation", "memory_restart"),))] == 1
    assert after[("comfyui_worker_operation_last_timestamp_seconds", (("operation", "backup_completed"),))] > 0
    assert ("comfyui_worker_webhooks_delivered_total", ()) in after
    assert after[("comfyui_worker_warmup_duration_seconds", (("instance", "0"),))] == 1.25
    assert after[("comfyui_worker_warmup_state", (("instance", "0"), ("state", "ok")))] == 1
    assert after[("comfyui_worker_warmup_runs_total", (("instance", "0"),))] == 1
    assert after[("comfyui_worker_place_running_jobs", (("place", "local"),))] == 0
    assert after[("comfyui_worker_place_jobs_total", (("outcome", "completed"), ("place", "local")))] == 0
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
