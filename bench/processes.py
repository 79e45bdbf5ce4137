"""Start and stop the benchmark's ComfyUI and daemon, and read their CPU time and memory from /proc (Linux).

Only processes started here are signalled: by their pid, then their descendants found through /proc.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


# --- /proc -------------------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            if kid not in found:
                found += [kid, *children(kid)]
    return found


def tree(pid: int, exclude: int | None = None) -> list[int]:
    """``pid`` and its descendants, without ``exclude`` and its descendants (a ComfyUI it started)."""
    pids = [pid, *children(pid)]
    if exclude in pids:
        gone = {exclude, *children(exclude)}
        pids = [p for p in pids if p not in gone]
    return pids


def cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def name(pid: int) -> str:
    """A short name: the word after ``-m supervisor`` for the daemon's processes, else the program's."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return str(pid)
    if "supervisor" in argv and argv.index("supervisor") + 1 < len(argv):
        return argv[argv.index("supervisor") + 1]
    return os.path.basename(argv[1] if len(argv) > 1 and "python" in argv[0] else argv[0]) if argv else str(pid)


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / HZ


@dataclass
class CpuWindow:
    """CPU seconds spent during a ``with`` block by ComfyUI, by our daemon (its tree without ComfyUI), by this
    client, and by everything else on the machine (``foreign_cores``: cores in use by others, on average)."""

    comfy: int
    daemon: int | None = None
    result: dict[str, float] = field(default_factory=dict)

    def _snap(self) -> tuple[float, ...]:
        ours = sum(cpu_s(p) for p in tree(self.daemon, self.comfy)) if self.daemon else 0.0
        comfy = sum(cpu_s(p) for p in tree(self.comfy))
        return time.perf_counter(), machine_busy_s(), comfy, ours, cpu_s(os.getpid())

    def __enter__(self) -> CpuWindow:
        self.before = self._snap()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, comfy, ours, client = (b - a for a, b in zip(self.before, self._snap(), strict=True))
        self.result = {"wall_s": wall, "comfy_cpu_s": comfy, "daemon_cpu_s": ours, "client_cpu_s": client,
                       "foreign_cores": max(0.0, busy - comfy - ours - client) / wall if wall > 0 else 0.0}


def foreign_cores(comfy: int, daemon: int | None, seconds: float = 2.0) -> float:
    with CpuWindow(comfy, daemon) as window:
        time.sleep(seconds)
    return window.result["foreign_cores"]


def wait_quiet(comfy: int, daemon: int | None, cores: float, max_wait_s: float) -> float:
    """Wait (at most ``max_wait_s``) until other processes use fewer than ``cores``; the load last seen."""
    deadline = time.monotonic() + max_wait_s
    while True:
        load = foreign_cores(comfy, daemon)
        if load < cores or time.monotonic() > deadline:
            return load
        time.sleep(1)


# --- the processes -----------------------------------------------------------------------------------------

@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, path: str, timeout: float) -> float:
        started = time.monotonic()
        while not answers(self.url + path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log.stem} exited ({self.proc.returncode}) before it was ready; "
                                   f"see {self.log}:\n{self.log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"not ready at {self.url + path} after {timeout:.0f} s; see {self.log}")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM, ``grace_s`` to stop its own children, then SIGKILL whatever of its tree is left."""
        if self.proc.poll() is not None:
            return
        kids = children(self.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            kids += children(self.pid)
            self.proc.kill()
            self.proc.wait(10)
        for kid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(kid, signal.SIGKILL)


def spawn(argv: list[str], log: Path, cwd: Path | str, env: dict[str, str], url: str) -> Started:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Started(proc, url, log)


def start_comfyui(path: str, python: str, extra: list[str], tmp: Path) -> tuple[Started, dict[str, Path]]:
    """ComfyUI ``--cpu`` on a free loopback port, with its input/output/temp/user folders under ``tmp``."""
    if not (Path(path) / "main.py").is_file():
        raise SystemExit(f"COMFYUI_PATH={path}: no main.py there")
    if not shutil.which(python):
        raise SystemExit(f"COMFYUI_PYTHON={python}: not found")
    folders = {k: tmp / "comfyui" / k for k in ("input", "output", "temp", "user")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
            "--disable-all-custom-nodes", "--disable-api-nodes",
            "--input-directory", str(folders["input"]), "--output-directory", str(folders["output"]),
            "--temp-directory", str(folders["temp"]), "--user-directory", str(folders["user"]),
            "--database-url", f"sqlite:///{folders['user'] / 'comfyui.db'}", *extra]
    return spawn(argv, tmp / "comfyui.log", path, dict(os.environ), f"http://127.0.0.1:{port}"), folders


def start_daemon(command: list[str], comfyui_url: str, tmp: Path) -> Started:
    """``comfyui-worker run`` in HTTP mode attached to the benchmark's ComfyUI, with the settings' defaults
    otherwise (as peerbench starts it): without COMFYUI_PATH/COMFYUI_PYTHON it cannot start a ComfyUI of its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", "COMFYUI_PYTHON", "COMFYUI_ARGS")}
    env |= {"HTTP_API_MODE": "true", "API_HOST": "127.0.0.1", "API_PORT": str(port), "COMFYUI_URL": comfyui_url,
            "SQLITE_DB_PATH": str(tmp / "worker-jobs.db"), "DATA_DIR": str(tmp / "worker-data"),
            "COMFY_LOG_LEVEL": "INFO"}
    return spawn([*command, "run"], tmp / "daemon.log", tmp, env, f"http://127.0.0.1:{port}")


def clean(folders: list[Path]) -> int:
    """Delete every file under these folders (ComfyUI's SaveImage lists its whole output folder on every save, so a
    growing folder would slow later runs down); how many."""
    n = 0
    for folder in folders:
        for entry in folder.rglob("*"):
            if entry.is_file():
                entry.unlink(missing_ok=True)
                n += 1
    return n
