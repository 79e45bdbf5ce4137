"""Drive the real ``comfyui-worker run`` in a subprocess: start it, submit jobs, kill things, read logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from store import Store
from supervisor.spawn import processes_in_group

ROOT = Path(__file__).resolve().parents[2]
FAKE_COMFYUI = ROOT / "tests" / "fake_comfyui"


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65000:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free ports")


def workflow(color: int, size: int = 64) -> dict[str, Any]:
    """EmptyImage -> SaveImage; a different colour each, so ComfyUI never answers from its cache."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                      "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
    }


def heavy_workflow(color: int, size: int = 1536) -> dict[str, Any]:
    """Model-free but slow on a real ComfyUI on CPU (about a second at 1536): a large blurred image."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": size, "height": size, "batch_size": 1,
                                                      "color": color}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 3.0}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "nearest-exact",
                                                      "width": 64, "height": 64, "crop": "disabled"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "bench"}},
    }


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:].split()[0] != b"Z"


class RunningDaemon:
    """One ``comfyui-worker run`` (restartable: ``start()`` again after it died, same store and ports)."""

    def __init__(self, tmp: Path, instances: int = 1, **env: str) -> None:
        self.tmp = tmp
        self.api_port = free_ports(1)
        self.comfyui_port = free_ports(instances)
        self.db_path = str(tmp / "jobs.db")
        self.env = {
            **os.environ,
            "HTTP_API_MODE": "true", "API_HOST": "127.0.0.1", "API_PORT": str(self.api_port),
            "COMFYUI_PATH": str(FAKE_COMFYUI), "COMFYUI_PYTHON": sys.executable,
            "COMFYUI_PORT": str(self.comfyui_port), "COMFYUI_INSTANCES": str(instances),
            "SQLITE_DB_PATH": self.db_path, "DATA_DIR": str(tmp / "data"), "WORKER_ID": "acceptance",
            "COMFY_LOG_LEVEL": "INFO", "COMFYUI_PROBE_INTERVAL_S": "0.3", "COMFYUI_HANG_TIMEOUT_S": "5",
            "COMFYUI_STARTUP_TIMEOUT_S": "30", "RESTART_BACKOFF_MAX_S": "1", "STOP_TIMEOUT_S": "3",
            "SHUTDOWN_GRACE_S": "5", "RECOVERY_INTERVAL_S": "1", "HEARTBEAT_STALE_S": "10",
            "POLL_INTERVAL_S": "0.02", "HEARTBEAT_INTERVAL_S": "0.5", "WEBSOCKET_RECONNECT_DELAY_S": "0.2",
            **env,
        }
        for key in ("COMFYUI_URL", "COMFYUI_GPU_IDS"):
            if key not in env:
                self.env.pop(key, None)
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[bytes] = []  # every stdout line of every run
        self.stderr: list[bytes] = []
        self.client = httpx.Client(timeout=10)
        self._readers: list[threading.Thread] = []

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> RunningDaemon:
        self.proc = subprocess.Popen([sys.executable, "-m", "supervisor", "run"], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
        for pipe, sink in ((self.proc.stdout, self.lines), (self.proc.stderr, self.stderr)):
            thread = threading.Thread(target=self._read, args=(pipe, sink), daemon=True)
            thread.start()
            self._readers.append(thread)
        return self

    @staticmethod
    def _read(pipe: Any, sink: list[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            sink.append(line)

    def wait_ready(self, timeout: float = 30.0, instances: Iterable[int] = (0,)) -> None:
        """Until the API answers and every ComfyUI and executor is running."""
        wanted = {f"comfyui-{i}" for i in instances} | {f"executor-{i}" for i in instances} | {"http"}
        self.wait_for(lambda: self._running(wanted), timeout, "daemon ready")

    def _running(self, names: set[str]) -> bool:
        try:
            if self.client.get(f"{self.url}/health", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        states = {name: c["state"] for name, c in self.components().items()}
        return all(states.get(n) == "running" for n in names)

    def wait_for(self, condition: Any, timeout: float, what: str, *, while_alive: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if while_alive and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) while waiting for {what}\n"
                                     + self.tail())
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n" + self.tail())

    def tail(self, n: int = 40) -> str:
        return b"".join(self.lines[-n:] + self.stderr[-10:]).decode(errors="replace")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        for thread in self._readers:
            thread.join(5)
        self._readers.clear()
        return rc

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.client.close()

    # --- the store and the API -----------------------------------------------------------------------------

    def components(self) -> dict[str, dict[str, Any]]:
        store = Store(self.db_path)
        try:
            return {c.name: {"state": c.state, "pid": c.pid, "restarts": c.restarts}
                    for c in store.components()}
        finally:
            store.close()

    def jobs(self) -> dict[str, Any]:
        store = Store(self.db_path)
        try:
            return {job.id: job for job in store.list_jobs(limit=10_000).jobs}
        finally:
            store.close()

    def submit(self, color: int, retry_s: float = 20.0, flow: dict[str, Any] | None = None) -> str:
        """POST /run; retried while the API is down (a job counts once it got its HTTP 200)."""
        deadline = time.monotonic() + retry_s
        while True:
            try:
                response = self.client.post(f"{self.url}/run", json={"workflow": flow or workflow(color)})
                if response.status_code == 200:
                    return str(response.json()["job_id"])
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("could not submit a job\n" + self.tail())
            time.sleep(0.05)

    def wait_jobs(self, ids: Iterable[str], statuses: set[str], timeout: float) -> None:
        ids = list(ids)

        def done() -> bool:
            jobs = self.jobs()
            return all(str(jobs[i].status) in statuses for i in ids)

        self.wait_for(done, timeout, f"jobs {statuses}")

    def wait_running_job(self, timeout: float = 10.0) -> str:
        return self.wait_for(lambda: next((i for i, j in self.jobs().items() if j.status == "running"), None),
                             timeout, "a running job")

    def kill9(self, name: str) -> int:
        """SIGKILL one child (by component name); returns its pid."""
        pid = self.components()[name]["pid"]
        assert pid, name
        os.kill(pid, signal.SIGKILL)
        return int(pid)

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 20.0) -> None:
        self.wait_for(lambda: (c := self.components().get(name)) and c["state"] == "running"
                      and c["pid"] != old_pid, timeout, f"{name} restarted")

    # --- its output ----------------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def not_json(self) -> list[bytes]:
        bad = []
        for line in self.lines:
            try:
                if not isinstance(json.loads(line), dict):
                    bad.append(line)
            except ValueError:
                bad.append(line)
        return bad

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == name]

    def child_pids(self) -> set[int]:
        return {int(r["child_pid"]) for r in self.events("child_started") if r.get("child_pid")}

    def leftovers(self) -> list[int]:
        """Processes of ours still alive: any child, or anything in a child's process group."""
        left = {pid for pid in self.child_pids() if alive(pid)}
        for pgid in self.child_pids():
            left.update(processes_in_group(pgid))
        return sorted(left)
