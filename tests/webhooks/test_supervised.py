"""The delivery process as a child of the supervisor: started in HTTP mode with only its own secret, restarted
after a crash, stopped after the executors; a bad WEBHOOK_SECRET stops start-up naming the variable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from store import Store, WebhookSpec
from supervisor.main import build, problem
from tests.supervisor.fakes import FakeClock, FakeSpawner, RecordingLog
from tests.supervisor.harness import ROOT
from tests.supervisor.test_daemon import settings_for

COMMANDS = {"http": object(), "executor": object(), "runpod": object(), "webhooks": object()}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENV = {"PATH": "/bin", "WEBHOOK_SECRET": SECRET, "API_KEY": "k", "BUCKET_SECRET_ACCESS_KEY": "s"}


def test_the_deliverer_sleeps_until_a_delivery_waits(tmp_path: Path, store: Store) -> None:
    spawner, clock = FakeSpawner(), FakeClock()
    daemon = build(settings_for(tmp_path), store, spawner, COMMANDS, RecordingLog(), clock, environ=ENV)
    daemon.start()
    clock.advance(5)
    daemon.step()
    assert "webhooks" not in {h.spec.name for h in spawner.spawned}  # no job has a webhook: no process
    job = store.create_job({"1": {}}, webhook=WebhookSpec(url="https://example.com/h", events=("job.cancelled",)))
    store.cancel(job.id)  # its event waits in the outbox
    daemon.step()
    assert "webhooks" not in {h.spec.name for h in spawner.spawned}  # asked once a second
    clock.advance(1)
    daemon.step()
    assert spawner.last("webhooks").spec.argv[-1] == "webhooks"


def test_http_mode_supervises_the_deliverer(tmp_path: Path, store: Store) -> None:
    spawner, clock = FakeSpawner(), FakeClock()
    settings = settings_for(tmp_path, webhook_url="https://example.com/every-job")  # wanted from the start
    daemon = build(settings, store, spawner, COMMANDS, RecordingLog(), clock, environ=ENV)
    daemon.start()
    hooks = spawner.last("webhooks")
    assert hooks.spec.argv[-1] == "webhooks"
    assert hooks.spec.env == {"PATH": "/bin", "WEBHOOK_SECRET": SECRET}  # no other secret
    assert "WEBHOOK_SECRET" not in (spawner.last("http").spec.env or {})
    assert {c.name: c.state for c in store.components()}["webhooks"] == "running"
    hooks.exit(1)  # crashed: restarted after its backoff
    daemon.step()
    clock.advance(10)
    daemon.step()
    assert spawner.last("webhooks") is not hooks
    daemon.instances[0].comfyui.probe_result(True)
    daemon.step()
    spawner.stubborn = False
    daemon.begin_shutdown("test")
    daemon.step()
    assert spawner.last("webhooks").signals == []  # not before the executors are gone
    spawner.last("executor-0").exit(0)
    daemon.step()
    assert spawner.last("webhooks").signals == [signal.SIGTERM]


def test_runpod_mode_has_no_deliverer(tmp_path: Path, store: Store) -> None:
    spawner = FakeSpawner()
    build(settings_for(tmp_path, http_api_mode=False), store, spawner, COMMANDS, RecordingLog(), FakeClock(),
          environ=ENV).start()
    assert "webhooks" not in {h.spec.name for h in spawner.spawned}


def test_a_bad_secret_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    why = problem(settings_for(tmp_path, webhook_secret="whsec_not base64!"), COMMANDS)
    assert why is not None and why.startswith("WEBHOOK_SECRET")
    env = {**os.environ, "HTTP_API_MODE": "true", "COMFYUI_PATH": str(tmp_path), "WEBHOOK_SECRET": "hunter2",
           "SQLITE_DB_PATH": str(tmp_path / "db")}
    (tmp_path / "main.py").write_text("")
    done = subprocess.run([sys.executable, "-m", "supervisor", "run"], env=env, capture_output=True, timeout=60,
                          cwd=str(ROOT))
    assert done.returncode == 2
    assert b"WEBHOOK_SECRET" in done.stderr and b"hunter2" not in done.stderr + done.stdout
