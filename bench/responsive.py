"""Is /health answered while the HTTP process is busy? ``comfyui-worker http`` under issue 10's five loads.

    uv run python bench/responsive.py [--duration 8] [--loads idle longpoll status raw cleanup] [--code DIR]

One store is prepared (a running job whose workflow is 5 MB, a completed job with one 150 MB output, 1,900
pending jobs, 100,000 finished jobs two days old), then for each load a fresh ``comfyui-worker http`` is
started on it and ``/health`` is probed every 20 ms from a separate process (a new connection each time, 4 s
timeout like the Docker health check) while the load runs:

- idle: 1,900 long-polls (``GET /status/{id}?wait=60``) of pending jobs, nothing else happening;
- longpoll: 200 long-polls (``wait=5``, repeated; their starts spread over those 5 s) of the 5 MB-workflow job,
  whose progress changes every 0.5 s;
- status: 5 clients fetching ``GET /status/{id}`` (base64 outputs) of the 150 MB job (``--output-mb``),
  over and over;
- raw: 5 clients fetching ``GET /jobs/{id}/outputs/0`` (the raw 150 MB), over and over;
- cleanup: ``POST /admin/cleanup?max_age_hours=24`` deleting the 100,000 old jobs (last: it empties them).

Printed per load: /health p50, p99 and max (ms), failures (> 4 s or not 200), the server's CPU (% of a core)
and its peak RSS (MB; its RSS at start in brackets). ``--code DIR`` runs the server (and prepares the store)
from another checkout, e.g. ``git archive main | tar -x -C /tmp/main`` for a before/after comparison.
Loopback only; the open-file limit is raised for the 1,900 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # bench/http.py shadows http
HOST = "127.0.0.1"
LOADS = ("idle", "longpoll", "status", "raw", "cleanup")
IDLE_POLLS, LONG_POLLS, FETCHERS = 1900, 200, 5
WORKFLOW_MB, OLD_JOBS = 5, 100_000
PROBE_EVERY_S, PROBE_TIMEOUT_S = 0.02, 4.0


# --- the store (run with the code under test: ``--prepare``) ----------------------------------------------------

def prepare(db: str, output_mb: int) -> dict[str, object]:
    from store import JobStatus, OutputFile, Progress, Store
    from store.testing import fill_jobs

    store = Store(db)
    node = {"class_type": "CLIPTextEncode", "inputs": {"text": "x" * 1000, "clip": ["1", 1]}}
    big = {str(i): node for i in range(WORKFLOW_MB * 1000)}
    waited = store.create_job(big).id
    store.claim("bench")
    store.record_progress(waited, "bench", Progress(value=1, max=100))
    output = store.create_job({"1": node}).id
    store.claim("bench")
    result = {"images": [{"filename": "big.mp4", "type": "base64", "output_index": 0, "node_id": "1",
                          "content_type": "video/mp4", "subfolder": ""}]}
    blob = os.urandom(1 << 20) * output_mb
    store.complete(output, "bench", result, [OutputFile(0, "big.mp4", "video/mp4", blob)])
    pending = [job.id for job in store.create_jobs([{"workflow": {"1": node}}] * IDLE_POLLS)]
    fill_jobs(store, OLD_JOBS, JobStatus.COMPLETED, at=time.time() - 2 * 86400)
    store.close()
    return {"waited": waited, "output": output, "pending": pending}


def churn(db: str, job_id: str, seconds: float) -> None:
    """The executor's side of a running job: a progress write every 0.5 s."""
    from store import Progress, Store

    store, end, value = Store(db), time.monotonic() + seconds, 1
    while time.monotonic() < end:
        time.sleep(0.5)
        value += 1
        store.record_progress(job_id, "bench", Progress(value=value % 100, max=100))


def code_env(code: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), **extra}


def run_code(code: Path, *args: str) -> str:
    cmd = [sys.executable, "-P", str(ROOT / "bench" / "responsive.py"), *args]
    return subprocess.run(cmd, env=code_env(code), cwd=code, check=True, capture_output=True, text=True).stdout


# --- the server -------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(code: Path, db: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = code_env(code, SQLITE_DB_PATH=db, API_HOST=HOST, API_PORT=str(port), COMFY_LOG_LEVEL="WARNING")
    cmd = [sys.executable, "-P", "-c", "from supervisor.cli import entry_point; entry_point()", "http"]
    log = open(folder / "server.log", "ab")  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(cmd, env=env, cwd=code, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while probe_once(port, 1.0)[1] != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start: see {folder / 'server.log'}")
        time.sleep(0.1)
    return process, port


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- /health, probed from its own process -----------------------------------------------------------------------

def probe_once(port: int, timeout: float) -> tuple[float, int]:
    """(seconds, HTTP status or 0) of one GET /health on a new connection."""
    start = time.perf_counter()
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(max(0.001, timeout - (time.perf_counter() - start)))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    except OSError:
        status = 0
    return time.perf_counter() - start, status


def probe_loop(port: int, seconds: float) -> None:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        elapsed, status = probe_once(port, PROBE_TIMEOUT_S)
        samples.append([elapsed, status])
        time.sleep(max(0.0, PROBE_EVERY_S - elapsed))
    print(json.dumps(samples))


# --- the loads (asyncio clients in this process) ------------------------------------------------------------------

async def fetch(port: int, path: str, method: str = "GET") -> int:
    """Bytes of the answer (headers included) to one request on a new connection, read to the end."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
        total = 0
        while chunk := await reader.read(1 << 20):
            total += len(chunk)
        return total
    finally:
        writer.close()


async def repeat(port: int, path: str, stop: asyncio.Event, done: list[int], delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    while not stop.is_set():
        try:
            done.append(await fetch(port, path))
        except OSError:
            await asyncio.sleep(0.1)


async def run_load(load: str, port: int, jobs: dict[str, object], stop: asyncio.Event) -> list[int]:
    done: list[int] = []
    if load == "idle":
        tasks = []
        for i, job_id in enumerate(jobs["pending"]):  # type: ignore[attr-defined]
            tasks.append(asyncio.create_task(fetch(port, f"/status/{job_id}?wait=60&outputs=none")))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # within the listen backlog
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return done
    if load == "cleanup":
        start = time.monotonic()
        done.append(await fetch(port, "/admin/cleanup?max_age_hours=24", "POST"))
        print(f"  (cleanup answered in {time.monotonic() - start:.1f} s)", flush=True)
        await stop.wait()
        return done
    paths = {"longpoll": (f"/status/{jobs['waited']}?wait=5&outputs=none", LONG_POLLS),
             "status": (f"/status/{jobs['output']}", FETCHERS),
             "raw": (f"/jobs/{jobs['output']}/outputs/0", FETCHERS)}
    path, clients = paths[load]
    spread = 5.0 / clients if load == "longpoll" else 0.0  # clients that did not all start in the same ms
    await asyncio.gather(*(repeat(port, path, stop, done, i * spread) for i in range(clients)))
    return done


async def measure(load: str, port: int, pid: int, jobs: dict[str, object], seconds: float) -> dict[str, float]:
    stop = asyncio.Event()
    loader = asyncio.create_task(run_load(load, port, jobs, stop))
    # probing starts once every idle poll waits, and once every long-poller has started
    await asyncio.sleep({"idle": 1.5, "longpoll": 5.0}.get(load, 0.3))
    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-P", str(ROOT / "bench" / "responsive.py"), "--probe", str(port), str(seconds),
        stdout=asyncio.subprocess.PIPE)
    cpu0, t0, peak = proc_cpu_s(pid), time.monotonic(), 0.0
    communicate = asyncio.create_task(probe.communicate())
    while not communicate.done():
        peak = max(peak, proc_rss_mb(pid))
        await asyncio.wait({communicate}, timeout=0.05)
    cpu = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
    stop.set()
    try:  # bounded: a request the server never answers is left behind
        done = await asyncio.wait_for(loader, seconds + 60)
    except TimeoutError:
        print(f"  ({load}: requests still unanswered {seconds + 60:g} s after probing ended)", flush=True)
        done = []
    samples = json.loads(communicate.result()[0])
    ms = sorted(elapsed * 1000 for elapsed, _ in samples)
    failures = sum(1 for elapsed, status in samples if status != 200 or elapsed >= PROBE_TIMEOUT_S)
    return {"n": len(ms), "p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
            "max": ms[-1], "failures": failures, "cpu": cpu * 100, "rss": peak, "answers": len(done),
            "mb": sum(done) / 1e6}


def raise_fd_limit(wanted: int = 8192) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # inherited by the server
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of probing per load")
    parser.add_argument("--loads", nargs="+", choices=LOADS, default=list(LOADS))
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout the server runs from")
    parser.add_argument("--output-mb", type=int, default=150, help="size of the large output")
    parser.add_argument("--prepare", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--probe", nargs=2, metavar=("PORT", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--churn", nargs=3, metavar=("DB", "JOB", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        print(json.dumps(prepare(args.prepare, args.output_mb)))
        return
    if args.probe:
        probe_loop(int(args.probe[0]), float(args.probe[1]))
        return
    if args.churn:
        churn(args.churn[0], args.churn[1], float(args.churn[2]))
        return
    fds = raise_fd_limit()
    code = args.code.resolve()
    print(f"code: {code}  open-file limit: {fds}  duration: {args.duration:g} s per load  "
          f"output: {args.output_mb} MB", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-responsive-") as tmp:
        folder, db = Path(tmp), str(Path(tmp) / "jobs.db")
        start = time.monotonic()
        jobs = json.loads(run_code(code, "--prepare", db, "--output-mb", str(args.output_mb)))
        print(f"store prepared in {time.monotonic() - start:.1f} s "
              f"({os.path.getsize(db) / 1e6:.0f} MB)", flush=True)
        print(f"{'load':<10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'fail':>6}{'probes':>8}{'CPU %':>7}"
              f"{'RSS MB':>15}{'answers':>9}{'MB out':>9}", flush=True)
        for load in [name for name in LOADS if name in args.loads]:
            process, port = start_server(code, db, folder)
            churner = None
            if load == "longpoll":
                churner = subprocess.Popen(
                    [sys.executable, "-P", str(ROOT / "bench" / "responsive.py"), "--churn", db,
                     str(jobs["waited"]), str(args.duration + 5)], env=code_env(code), cwd=code)
            try:
                base = proc_rss_mb(process.pid)
                r = asyncio.run(measure(load, port, process.pid, jobs, args.duration))
            finally:
                if churner:
                    churner.kill()
                    churner.wait()
                stop_server(process)
            rss = f"{r['rss']:.0f} ({base:.0f})"
            print(f"{load:<10}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}{r['failures']:>6}{r['n']:>8}"
                  f"{r['cpu']:>7.0f}{rss:>15}{r['answers']:>9}{r['mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
