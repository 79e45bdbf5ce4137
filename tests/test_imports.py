"""Each process of the daemon imports only what its role uses (issue 11: memory).

The real ``comfyui-worker run`` runs a job in HTTP mode and in RunPod mode (the SDK's local API); every Python
process it starts writes, when it exits, the modules it holds (a ``sitecustomize`` put on PYTHONPATH for the test
registers that at start-up). Those lists are checked against what each role must never load: a framework of
another role, an optional extra (structlog's rich console, httpx's CLI, Litestar's pydantic plugin), boto3
without a bucket, an HTTP client in the supervisor.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.executor.conftest import load_workflow
from tests.http.conftest import b64
from tests.runpod.daemon import ServerlessDaemon, Webhook
from tests.supervisor.harness import RunningDaemon

SITECUSTOMIZE = '''
import atexit, os, sys, threading

def _dump():
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\\0") if a]
    names = sorted(name for name, module in list(sys.modules.items()) if module is not None)
    path = os.path.join(os.environ["TEST_MODULES_DIR"], f"{os.getpid()}.txt")
    with open(path + ".tmp", "w") as f:
        f.write(" ".join(argv) + "\\n" + "\\n".join(names))
    os.replace(path + ".tmp", path)

def _every_100_ms():  # a process a signal ends (the RunPod SDK's uvicorn re-raises SIGTERM) runs no atexit
    while True:
        threading.Event().wait(0.1)
        _dump()

atexit.register(_dump)
threading.Thread(target=_every_100_ms, daemon=True).start()
'''

CONSOLE_EXTRAS = {"rich", "pygments", "colorama", "better_exceptions"}
NO_BUCKET = {"boto3", "botocore", "s3transfer"}
HTTP_CLIENTS = {"httpx", "httpcore", "h11", "aiohttp", "requests", "urllib3"}
SERVERS = {"litestar", "uvicorn", "uvloop", "httptools", "starlette", "fastapi", "pydantic", "runpod", "yaml"}
CLI_EXTRAS = {"click"}
IMAGE_LIBS = {"PIL"}  # Pillow: only an executor converting a job's outputs (output.format) loads it
METRICS = {"prometheus_client"}  # /metrics is the HTTP transport's: other processes write figures to the store

FORBIDDEN: dict[str, set[str]] = {
    # ssl, _hashlib (libcrypto): its only TLS would be the probe of an https COMFYUI_URL
    "supervisor": CONSOLE_EXTRAS | NO_BUCKET | HTTP_CLIENTS | SERVERS | CLI_EXTRAS | IMAGE_LIBS | METRICS
                  | {"anyio", "websockets", "executor", "transports", "ssl", "_ssl", "_hashlib"},
    # httpx: uploads are encoded by executor.multipart
    "executor": CONSOLE_EXTRAS | NO_BUCKET | SERVERS | CLI_EXTRAS | IMAGE_LIBS | METRICS
                | {"aiohttp", "requests", "transports", "attr", "httpx", "httpcore"},
    # limits: only once a named key has a requests_per_second
    "http": CONSOLE_EXTRAS | NO_BUCKET | HTTP_CLIENTS | IMAGE_LIBS
            | {"fastapi", "pydantic", "runpod", "attr", "executor", "websockets", "limits"},
    # the webhook deliverer: the store, h11 and its own module only (no framework, no pooled client)
    "webhooks": CONSOLE_EXTRAS | NO_BUCKET | SERVERS | CLI_EXTRAS | IMAGE_LIBS | METRICS
                | {"httpx", "httpcore", "aiohttp", "requests", "urllib3", "executor", "websockets", "attr", "anyio"},
    # the SDK's command line: its SSH tools; uvicorn's WebSocket protocols (the SDK's API has no WebSocket route)
    "runpod": CONSOLE_EXTRAS | NO_BUCKET | IMAGE_LIBS
              | {"litestar", "executor", "httpx", "paramiko", "cryptography", "invoke", "websockets", "wsproto"},
    # the overflow forwarder: the store and httpx to RunPod's API; no server, no ComfyUI protocol, no SDK
    "forwarder": CONSOLE_EXTRAS | NO_BUCKET | SERVERS | CLI_EXTRAS | IMAGE_LIBS | METRICS
                 | {"aiohttp", "requests", "websockets", "executor", "transports", "attr"},
}
# a child needs the package `supervisor` only for the command line that started it
CHILD_SUPERVISOR_MODULES = {"supervisor", "supervisor.cli", "supervisor.__main__"}


def role(argv: list[str]) -> str | None:
    if "supervisor" not in argv[1:3] or len(argv) <= argv.index("supervisor") + 1:
        return None  # ComfyUI (the fake one)
    command = argv[argv.index("supervisor") + 1]
    return {"run": "supervisor"}.get(command, command)


def modules_by_role(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for dump in folder.glob("*.txt"):  # the last one written
        first, *names = dump.read_text().split("\n")
        if (name := role(first.split(" "))) is not None:
            found[name] = set(names)
    return found


def _remote_half(role_name: str, module: str) -> bool:
    """The forwarder is the executor's remote half (executor/remote/): that package, never its ComfyUI half."""
    return role_name == "forwarder" and (module in ("executor", "executor.remote")
                                         or module.startswith("executor.remote."))


def offending(role_name: str, modules: set[str]) -> list[str]:
    bad = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN[role_name] and not _remote_half(role_name, m))
    if role_name != "supervisor":
        bad += sorted(m for m in modules if m.split(".")[0] == "supervisor" and m not in CHILD_SUPERVISOR_MODULES)
    return bad


@pytest.fixture
def dumps(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = tmp_path / "modules"
    out.mkdir()
    yield out, {"PYTHONPATH": str(site), "TEST_MODULES_DIR": str(out)}


def stop(daemon: RunningDaemon) -> None:
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(30) == 0, daemon.tail()


def test_http_mode_processes_import_only_their_role(tmp_path: Path, dumps: tuple[Path, dict[str, str]]) -> None:
    out, env = dumps
    # WEBHOOK_URL: every job has a webhook, so the delivery process runs (nothing listens there: it retries)
    daemon = RunningDaemon(tmp_path, WEBHOOK_URL="http://127.0.0.1:9/hook", WEBHOOK_ALLOW_PRIVATE="true",
                           **env).start()
    try:
        daemon.wait_ready()
        response = daemon.client.post(f"{daemon.url}/runsync", json={"workflow": _workflow(1)})
        assert response.json()["status"] == "completed", response.text
        upload = daemon.client.post(f"{daemon.url}/runsync", json={"workflow": load_workflow("in.png"),
                                                                    "images": [{"name": "in.png", "image": b64()}]})
        assert upload.json()["status"] == "completed", upload.text
        assert daemon.client.get(f"{daemon.url}/status/{response.json()['job_id']}").status_code == 200
        stop(daemon)
    finally:
        daemon.close()
    found = modules_by_role(out)
    assert set(found) == {"supervisor", "executor", "http", "webhooks"}, sorted(found)
    assert {name: offending(name, modules) for name, modules in found.items()} == {name: [] for name in found}


def test_runpod_mode_processes_import_only_their_role(tmp_path: Path,
                                                      dumps: tuple[Path, dict[str, str]]) -> None:
    out, env = dumps
    webhook = Webhook()
    daemon = ServerlessDaemon(tmp_path, webhook, **env)
    try:
        daemon.start().wait_ready()
        body = daemon.post("/runsync", {"input": {"workflow": _workflow(2)}}).json()
        assert body["status"] == "COMPLETED", body
        stop(daemon)
    finally:
        daemon.close()
        webhook.close()
    found = modules_by_role(out)
    assert set(found) == {"supervisor", "executor", "runpod"}, sorted(found)
    assert {name: offending(name, modules) for name, modules in found.items()} == {name: [] for name in found}


def test_the_forwarder_imports_only_its_role(tmp_path: Path, dumps: tuple[Path, dict[str, str]]) -> None:
    """A daemon A forwarding to a daemon B's /v2: A's executor holds two slow jobs, the rest overflow."""
    out, env = dumps
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    b = RunningDaemon(tmp_path / "b").start()
    a = RunningDaemon(tmp_path / "a", RUNPOD_OVERFLOW_ENDPOINT_ID="ep", RUNPOD_OVERFLOW_BASE_URL=f"{b.url}/v2",
                      RUNPOD_OVERFLOW_QUEUE_DEPTH="0", RUNPOD_API_KEY="k", **env).start()
    try:
        b.wait_ready()
        a.wait_ready()
        a.wait_for(lambda: a.components().get("forwarder", {}).get("state") == "running", 20, "the forwarder")
        httpx.post(f"http://127.0.0.1:{a.comfyui_port}/_fake/config", json={"delay_ms": 1500}, timeout=5)
        ids = [a.submit(color) for color in range(3, 7)]
        a.wait_jobs(ids, {"completed"}, 40)
        places = [a.client.get(f"{a.url}/status/{job_id}").json()["ran_on"] for job_id in ids]
        assert "runpod" in places, places
        stop(a)
    finally:
        a.close()
        b.close()
    found = modules_by_role(out)
    assert "forwarder" in found, sorted(found)
    assert offending("forwarder", found["forwarder"]) == []


def _workflow(color: int) -> dict[str, object]:
    from tests.supervisor.harness import workflow

    return workflow(color)
