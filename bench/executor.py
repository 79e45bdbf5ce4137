"""Executor benchmark: how close to back-to-back does the executor keep ComfyUI busy?

    uv run python bench/executor.py [--n 50] [--t-ms 200]

A fake ComfyUI (tests/fake_comfyui, its own process) takes T ms per prompt. N unique jobs go through one real
executor (pipeline depth 2, store on a temp file). Printed: makespan / (N x T) at T (target <= 1.05); the
same makespan over the time ComfyUI really spent executing (its history's execution_start/success stamps:
the fake's own sleep overshoot is not the executor's doing) and ComfyUI's idle time between prompts; and at
T = 0 the executor's own cost per job: throughput (makespan / N) and the median claim -> completed latency
with pipeline depth 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

# A script's folder comes first on sys.path: bench/http.py and bench/executor.py would shadow stdlib `http`
# and the `executor` package. Put the repository root there instead.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from config.logging import configure  # noqa: E402
from config.settings import Settings  # noqa: E402
from executor.loop import Executor  # noqa: E402
from store import JobStatus, Store  # noqa: E402

# tests/ is appended (not prepended) so tests/http does not shadow the stdlib `http` package
LAUNCH = ("import sys; sys.path.append(sys.argv[1]); del sys.argv[1]; sys.argv[0] = 'main.py'; "
          "from fake_comfyui.main import main; main()")


def start_fake(base: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(ROOT / "tests"), "--port", str(port),
                             "--input-directory", str(base / "in"), "--output-directory", str(base / "out"),
                             "--temp-directory", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/system_stats", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the fake ComfyUI did not start")


def workflow(color: int) -> dict:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1,
                                                         "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}}}


def comfy_busy(url: str, n: int) -> tuple[float, float]:
    """(seconds ComfyUI spent executing the last n prompts, seconds it sat idle between them)."""
    history = httpx.get(url + "/history", params={"max_items": n}).json()
    spans = []
    for entry in history.values():
        stamps = {kind: data["timestamp"] for kind, data in entry["status"]["messages"]}
        spans.append((stamps["execution_start"], stamps["execution_success"]))
    spans.sort()
    busy = sum(end - start for start, end in spans) / 1000
    idle = sum(max(0, nxt[0] - cur[1]) for cur, nxt in itertools.pairwise(spans)) / 1000
    return busy, idle


async def run_batch(url: str, base: Path, n: int, t_ms: float, depth: int, first_color: int,
                    steps: int) -> dict:
    httpx.post(url + "/_fake/config", json={"delay_ms": t_ms, "progress_steps": steps})
    db = str(base / f"bench-{first_color}.db")
    settings = Settings(sqlite_db_path=db, pipeline_depth=depth, poll_interval_s=0.005,
                        progress_throttle_s=0.5, comfyui_output_dir=str(base / "out"),
                        comfy_log_level="WARNING")
    store, exec_store = Store(db), Store(db)
    executor = Executor(settings, exec_store, comfyui_url=url, worker_id="bench",
                        client_id=f"bench-{first_color}")
    task = asyncio.create_task(executor.run())
    await executor.comfy_ok.wait()  # measure jobs, not start-up
    started = time.time()
    ids = [store.create_job(workflow(first_color + i)).id for i in range(n)]
    while store.stats()["completed"] + store.stats()["failed"] < n:
        await asyncio.sleep(0.01)
    makespan = time.time() - started
    jobs = [store.get_job(i) for i in ids]
    executor.stop()
    await task
    store.close()
    exec_store.close()
    assert all(j.status is JobStatus.COMPLETED for j in jobs), [j.error for j in jobs if j.error][:3]
    latencies = [(j.completed_at - j.started_at) * 1000 for j in jobs]  # type: ignore[operator]
    busy, idle = comfy_busy(url, n)
    return {"makespan_s": makespan, "median_latency_ms": statistics.median(latencies), "busy_s": busy,
            "idle_s": idle}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--t-ms", type=float, default=200.0)
    parser.add_argument("--progress-steps", type=int, default=0,
                        help="progress frames per node of the fake (0: one sleep per node, least overshoot)")
    args = parser.parse_args()
    configure("executor", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        proc, url = start_fake(base)
        try:
            fed = await run_batch(url, base, args.n, args.t_ms, 2, 10_000, args.progress_steps)
            free2 = await run_batch(url, base, args.n, 0, 2, 20_000, args.progress_steps)
            free1 = await run_batch(url, base, args.n, 0, 1, 30_000, args.progress_steps)
        finally:
            proc.terminate()
            proc.wait(5)
    ideal = args.n * args.t_ms / 1000
    ratio = fed["makespan_s"] / ideal
    rows = [
        (f"T={args.t_ms:g} ms, depth 2", f"{fed['makespan_s']:.3f} s", f"{ideal:.3f} s", f"{ratio:.3f}",
         "<= 1.05 " + ("ok" if ratio <= 1.05 else "MISSED")),
        (f"T={args.t_ms:g} ms, depth 2", f"{fed['makespan_s']:.3f} s", f"{fed['busy_s']:.3f} s busy",
         f"{fed['makespan_s'] / fed['busy_s']:.3f}",
         f"vs ComfyUI's busy time; idle between prompts {fed['idle_s'] * 1000:.0f} ms"),
        ("T=0, depth 2 (throughput)", f"{free2['makespan_s']:.3f} s", "-",
         f"{free2['makespan_s'] / args.n * 1000:.2f} ms/job", "overhead per job"),
        ("T=0, depth 1 (latency)", f"{free1['makespan_s']:.3f} s", "-",
         f"{free1['median_latency_ms']:.2f} ms", "median claim -> completed"),
    ]
    print(f"executor benchmark: N={args.n} jobs, fake ComfyUI in its own process on loopback "
          f"(progress_steps={args.progress_steps}), python {sys.version.split()[0]} on {os.cpu_count()} CPUs")
    header = ("run", "makespan", "N x T", "result", "meaning")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    asyncio.run(main())
