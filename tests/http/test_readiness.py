"""transports.readiness on a real store: each reason /ready gives, and when none applies."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from store import Store
from transports.readiness import readiness


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(str(tmp_path / "jobs.db"))
    s.set_component("supervisor", "running", pid=1)
    for i in (0, 1):
        s.set_component(f"comfyui-{i}", "running", pid=10 + i)
        s.set_component(f"executor-{i}", "running", pid=20 + i)
    return s


def test_ready_with_every_instance_running_and_no_warmup_asked(store) -> None:
    body = readiness(store, warmup=False, max_queue_depth=0)
    assert (body.status, body.reasons, body.ready_instances) == ("ready", [], ["comfyui-0", "comfyui-1"])


def test_one_ready_instance_is_enough(store) -> None:
    store.set_component("comfyui-1", "backoff")
    assert readiness(store, warmup=False, max_queue_depth=0).ready_instances == ["comfyui-0"]
    store.set_component("executor-0", "backoff")
    body = readiness(store, warmup=False, max_queue_depth=0)
    assert body.status == "not_ready" and body.reasons == ["executor-0 is backoff", "comfyui-1 is backoff"]


def test_with_warmup_asked_an_instance_counts_only_once_its_warmup_succeeded(store) -> None:
    assert readiness(store, warmup=True, max_queue_depth=0).reasons == [
        "comfyui-0 has not warmed up yet", "comfyui-1 has not warmed up yet"]
    store.warmup_started(0, "w0")
    store.warmup_started(1, "w1")
    store.warmup_finished(1, "w1", duration_s=0.5, error={"type": "validation", "message": "no such model"})
    body = readiness(store, warmup=True, max_queue_depth=0)
    assert body.reasons == ["comfyui-0 is warming up", "comfyui-1 warm-up failed: no such model"]
    assert body.warmup["comfyui-1"].error == {"type": "validation", "message": "no such model"}
    store.warmup_finished(0, "w0", duration_s=2.0)
    body = readiness(store, warmup=True, max_queue_depth=0)
    assert body.status == "ready" and body.ready_instances == ["comfyui-0"]
    assert body.warmup["comfyui-0"].duration_s == 2.0
    store.warmup_reset(0)  # the supervisor: that ComfyUI stopped
    assert readiness(store, warmup=True, max_queue_depth=0).status == "not_ready"
    assert not store.warmup_finished(0, "w0", duration_s=1.0)  # a warm-up of the old ComfyUI finishes nothing


def test_not_ready_while_the_daemon_shuts_down(store) -> None:
    store.set_component("supervisor", "stopping", pid=1)
    assert readiness(store, warmup=False, max_queue_depth=0).reasons == ["the daemon is stopping"]


def test_not_ready_without_any_comfyui_known(tmp_path) -> None:
    bare = Store(str(tmp_path / "bare.db"))
    assert readiness(bare, warmup=False, max_queue_depth=0).reasons == [
        "no ComfyUI instance is known (is the supervisor running?)"]


def test_not_ready_on_a_store_opened_read_only(store) -> None:
    store.conn.close()
    store.conn = apsw.Connection(store.path, flags=apsw.SQLITE_OPEN_READONLY)
    assert readiness(store, warmup=False, max_queue_depth=0).reasons == [f"store not writable: {store.path}"]


def test_queue_full_at_max_queue_depth(store) -> None:
    store.create_job({"1": {"class_type": "EmptyImage", "inputs": {}}})
    assert readiness(store, warmup=False, max_queue_depth=2).status == "ready"
    store.create_job({"1": {"class_type": "EmptyImage", "inputs": {}}})
    body = readiness(store, warmup=False, max_queue_depth=2)
    assert body.reasons == ["queue full: 2 jobs pending, MAX_QUEUE_DEPTH=2"] and body.pending_jobs == 2
