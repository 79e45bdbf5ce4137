"""Fixed cost per job: our own CPU, requests to ComfyUI, log lines and store writes per trivial job.

    uv run python bench/cpu.py [--jobs 200] [--clients 32] [--part daemon|executor|both] [--profile FILE] [--upload]

Trivial job: EmptyImage 64x64 (a fresh colour each, never cached) -> SaveImage. Counts, not wall-clock time,
so the figures hold on a busy machine.

``daemon``: ``comfyui-worker run`` (HTTP mode) with its ComfyUI (the fake of tests/fake_comfyui, or a real one
when COMFYUI_PATH is set; ``COMFYUI_URL`` attaches instead), JOBS jobs through ``POST /runsync`` from CLIENTS
client tasks. Printed per job: CPU ms of each process (utime + stime from /proc, before/after), log lines of
each process by level (what reaches the supervisor's stdout), and with the fake, ComfyUI requests by endpoint.

``executor``: the executor in this process against a ComfyUI of its own (the same choice), JOBS jobs put in
the store first. Printed per job: this process's CPU ms, ComfyUI requests by endpoint, store writes by
operation, log lines by level; ``--profile FILE`` writes a cProfile of the run and prints its top frames.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, its folder comes first on sys.path, where bench/http.py would shadow the stdlib's http
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402

from tests.supervisor.harness import RunningDaemon, free_ports, workflow  # noqa: E402

REAL = bool(os.environ.get("COMFYUI_PATH"))
ATTACH = os.environ.get("COMFYUI_URL")
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
_colors = itertools.count(int(time.time()) % 100_000 * 1000)


def cpu_ms(pid: int) -> float:
    """utime + stime of a process (its own threads, not its children)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def line_counts(lines: list[bytes]) -> collections.Counter[tuple[str, str]]:
    """(process, level) -> lines; ComfyUI's relayed output counts as process comfyui."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for raw in lines:
        try:
            event = json.loads(raw)
        except ValueError:
            counts[("?", "not_json")] += 1
            continue
        counts[(str(event.get("process")), str(event.get("level")))] += 1
    return counts


def per_job(counter: dict[Any, float], n: int) -> dict[str, float]:
    return {" ".join(k) if isinstance(k, tuple) else str(k): round(v / n, 2) for k, v in sorted(counter.items())}


# --- the whole daemon ---------------------------------------------------------------------------------------

async def drive(api: str, jobs: int, clients: int) -> None:
    """JOBS trivial jobs through POST /runsync from CLIENTS tasks, each until its result is in hand."""
    todo = iter(range(jobs))
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=httpx.Limits(max_connections=clients)) as c:
        async def client() -> None:
            for _ in todo:
                body = (await c.post("/runsync", json={"workflow": workflow(next(_colors))})).json()
                while body["status"] not in ("completed", "failed", "cancelled"):
                    body = (await c.get(f"/status/{body['job_id']}", params={"wait": 60})).json()
                if body["status"] != "completed" or not body["result"]["images"][0]["data"]:
                    raise RuntimeError(f"job {body.get('job_id')}: {body['status']} {body.get('error')}")

        await asyncio.gather(*(client() for _ in range(clients)))


def fake_requests(comfy: str) -> collections.Counter[str]:
    return collections.Counter(httpx.get(f"{comfy}/_fake/stats").json()["requests"])


def spy(name: str, pid: int, py_spy: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = Path(tempfile.gettempdir()) / f"bench-cpu-{name}-{os.getpid()}.txt"
    proc = subprocess.Popen([py_spy, "record", "--format", "raw", "--rate", "500", "--nonblocking", "-o", str(out),
                             "--pid", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the work starts
    return proc, out


def summarize_spy(path: Path, top: int = 12) -> str:
    """Top frames of a py-spy raw (collapsed) profile: by self samples and by inclusive samples."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    idle = sum(n for frame, n in own.items() if frame.startswith(("poll ", "select ", "epoll")))
    rows = [f"    samples {total} (idle in poll: {idle})", "    self:"]
    rows += [f"      {n:6d} {frame}" for frame, n in own.most_common(top)]
    rows += ["    inclusive:"] + [f"      {n:6d} {frame}" for frame, n in inclusive.most_common(top * 2)]
    return "\n".join(rows)


def daemon_part(jobs: int, clients: int, py_spy: str | None = None) -> None:
    env = {"COMFY_LOG_LEVEL": "INFO", "COMFYUI_PROBE_INTERVAL_S": "2", "COMFYUI_HANG_TIMEOUT_S": "60",
           "COMFYUI_STARTUP_TIMEOUT_S": "600", "HEARTBEAT_INTERVAL_S": "2", "RECOVERY_INTERVAL_S": "5",
           "HEARTBEAT_STALE_S": "30", "POLL_INTERVAL_S": "0.05", "WORKER_ID": "bench"}
    if ATTACH:
        env |= {"COMFYUI_URL": ATTACH}
    elif REAL:
        env |= {"COMFYUI_PATH": os.environ["COMFYUI_PATH"],
                "COMFYUI_PYTHON": os.environ.get("COMFYUI_PYTHON", sys.executable),
                "COMFYUI_ARGS": os.environ.get("COMFYUI_ARGS", "--cpu")}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        daemon = RunningDaemon(Path(tmp), **env).start()
        try:
            if ATTACH:
                daemon.wait_for(lambda: daemon._running({"executor-0", "http"}), 60, "daemon ready")
            else:
                daemon.wait_ready(timeout=600)
            comfy = ATTACH or f"http://127.0.0.1:{daemon.comfyui_port}"
            fake = not (REAL or ATTACH)
            asyncio.run(drive(daemon.url, 5, 1))  # warm-up
            time.sleep(1.0)
            assert daemon.proc is not None
            pids = {"supervisor": daemon.proc.pid,
                    **{name: c["pid"] for name, c in daemon.components().items() if c["pid"]}}
            before_cpu = {name: cpu_ms(pid) for name, pid in pids.items()}
            before_lines, before_requests = len(daemon.lines), fake_requests(comfy) if fake else None
            spies = [spy(name, pid, py_spy) for name, pid in pids.items()
                     if py_spy and name in ("executor-0", "supervisor")]
            started = time.perf_counter()
            asyncio.run(drive(daemon.url, jobs, clients))
            makespan = time.perf_counter() - started
            for proc, _ in spies:
                proc.send_signal(signal.SIGINT)
            for proc, out in spies:
                proc.wait(30)
                print(f"  py-spy {out.name}:\n{summarize_spy(out)}")
            time.sleep(1.0)  # the last lines through the relay
            cpu = {name: cpu_ms(pid) - before_cpu[name] for name, pid in pids.items()}
            lines = line_counts(daemon.lines[before_lines:])
            which = "attached " + ATTACH if ATTACH else "real " + os.environ["COMFYUI_PATH"] if REAL else "fake"
            print(f"daemon: {jobs} jobs, {clients} clients, ComfyUI {which}, makespan {makespan:.2f} s")
            ours = sum(v for k, v in cpu.items() if not k.startswith("comfyui"))
            print(f"  CPU ms per job: {per_job(cpu, jobs)}  ours {ours / jobs:.2f}")
            print(f"  log lines per job (process level): {per_job(dict(lines), jobs)}")
            if before_requests is not None:
                requests = fake_requests(comfy) - before_requests
                print(f"  ComfyUI requests per job: {per_job(dict(requests), jobs)}  "
                      f"total {sum(requests.values()) / jobs:.2f}")
        finally:
            daemon.close()


# --- the executor alone -------------------------------------------------------------------------------------

class Counting:
    """Store writes by operation, counted by wrapping the store's writing methods."""

    WRITES = ("claim", "heartbeat", "record_progress", "complete", "fail", "finish_cancelled", "requeue",
              "release", "put_node_catalog", "set_component")

    def __init__(self, store: Any) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        for name in self.WRITES:
            method = getattr(store, name)

            def counted(*args: Any, _m: Any = method, _n: str = name, **kwargs: Any) -> Any:
                self.counts[_n] += 1
                return _m(*args, **kwargs)

            setattr(store, name, counted)


def start_comfyui(tmp: Path) -> tuple[subprocess.Popen[bytes] | None, str, Path | None]:
    if ATTACH:
        return None, ATTACH, None
    port = free_ports(1)
    out = tmp / "out"
    if REAL:
        argv = [os.environ.get("COMFYUI_PYTHON", sys.executable), os.path.join(os.environ["COMFYUI_PATH"], "main.py"),
                "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
                *os.environ.get("COMFYUI_ARGS", "--cpu").split()]
        cwd = os.environ["COMFYUI_PATH"]
    else:
        argv = [sys.executable, str(ROOT / "tests" / "fake_comfyui" / "main.py"), "--port", str(port)]
        cwd = str(ROOT)
    argv += ["--input-directory", str(tmp / "in"), "--output-directory", str(out), "--temp-directory", str(tmp)]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(6000):
        try:
            httpx.get(url + "/system_stats", timeout=0.5)
            return proc, url, out
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("ComfyUI did not start")


def job_spec(upload: bool) -> dict[str, Any]:
    """A trivial job, or (``--upload``) a W3 job: a fresh 512x512 noise PNG (~780 KB) in, inverted, out."""
    if not upload:
        return {"workflow": workflow(next(_colors))}
    from bench.workloads import invert_workflow, noise_png
    from store import InputImage

    name = f"bench_in_{next(_colors)}.png"
    return {"workflow": invert_workflow(name, "bench_w3"), "images": [InputImage(name=name, data=noise_png()[0])]}


async def run_executor(settings: Any, url: str, jobs: int, profile: str | None,
                       upload: bool = False) -> dict[str, Any]:
    from executor.loop import Executor
    from store import JobStatus, Store

    store = Store(settings.sqlite_db_path)
    writes = Counting(store)
    executor = Executor(settings, store, comfyui_url=url, worker_id="bench", client_id="bench-cpu")
    requests = executor.client.sent
    task = asyncio.create_task(executor.run())
    feeder = Store(settings.sqlite_db_path)

    async def batch(specs: list[dict[str, Any]]) -> None:
        n = len(specs)
        ids = [job.id for job in feeder.create_jobs(specs)]
        while feeder.stats()[str(JobStatus.COMPLETED)] < len(done) + n:
            await asyncio.sleep(0.05)
        done.extend(ids)

    done: list[str] = []
    await batch([job_spec(False) for _ in range(3)])  # warm-up
    if upload:
        await batch([job_spec(True)])  # its first upload imports what uploads need
    specs = [job_spec(upload) for _ in range(jobs)]  # made before the count starts (zlib: ~50 ms each)
    writes.counts.clear()
    requests.clear()
    profiler = cProfile.Profile() if profile else None
    cpu_before = time.process_time()
    if profiler:
        profiler.enable()
    await batch(specs)
    if profiler:
        profiler.disable()
    cpu = (time.process_time() - cpu_before) * 1000
    executor.stop()
    await task
    feeder.close()
    store.close()
    return {"cpu_ms": cpu, "requests": requests, "writes": writes.counts, "profiler": profiler}


def executor_part(jobs: int, profile: str | None, upload: bool = False) -> None:
    from config.logging import configure
    from config.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-cpu-exec-") as tmp:
        proc, url, out = start_comfyui(Path(tmp))
        log_path = Path(tmp) / "executor.log"
        saved = sys.stdout
        try:
            with open(log_path, "w") as log_file:
                sys.stdout = log_file
                configure("executor", "INFO")
                local = {"comfyui_output_dir": str(out), "comfyui_input_dir": str(Path(tmp) / "in")} if out else {}
                settings = Settings(sqlite_db_path=str(Path(tmp) / "jobs.db"), heartbeat_interval_s=2.0,
                                    poll_interval_s=0.05, **local)
                result = asyncio.run(run_executor(settings, url, jobs, profile, upload))
        finally:
            sys.stdout = saved
            logging.getLogger().handlers.clear()  # its handler wrote to the log file, closed now
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        lines = collections.Counter(str(json.loads(raw).get("level")) for raw in log_path.read_text().splitlines())
    kind = "W3 (780 KB in and out)" if upload else "trivial"
    print(f"executor in-process: {jobs} {kind} jobs, ComfyUI {'attached' if ATTACH else 'real' if REAL else 'fake'}")
    print(f"  CPU ms per job: {result['cpu_ms'] / jobs:.2f}")
    print(f"  ComfyUI requests per job: {per_job(dict(result['requests']), jobs)}  "
          f"total {sum(result['requests'].values()) / jobs:.2f}")
    print(f"  store writes per job: {per_job(dict(result['writes']), jobs)}  "
          f"total {sum(result['writes'].values()) / jobs:.2f}")
    print(f"  log lines (whole run incl. start/stop) per job: {per_job(dict(lines), jobs)}")
    if profile and result["profiler"] is not None:
        result["profiler"].dump_stats(profile)
        text = io.StringIO()
        pstats.Stats(result["profiler"], stream=text).sort_stats("tottime").print_stats(25)
        print(text.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--part", choices=("daemon", "executor", "both"), default="both")
    parser.add_argument("--profile", help="executor part: write a cProfile here and print its top frames")
    parser.add_argument("--py-spy", help="daemon part: the py-spy executable; record the executor and supervisor")
    parser.add_argument("--upload", action="store_true",
                        help="executor part: W3 jobs (a fresh 512x512 noise PNG in, inverted, out) instead")
    args = parser.parse_args()
    if args.part in ("executor", "both"):
        executor_part(args.jobs, args.profile, args.upload)
    if args.part in ("daemon", "both"):
        daemon_part(args.jobs, args.clients, args.py_spy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
