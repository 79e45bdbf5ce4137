"""Per-job overhead of the overflow forwarder: trivial jobs one after another, straight to daemon B, and through
daemon A whose forwarder runs them on B's ``/v2`` routes (standing in for RunPod), from one run.

    uv run python bench/overflow.py [--jobs 20] [--poll-s 1.0] [--local-first-s 0.2 0]

B and every A run the fake ComfyUI (tests/fake_comfyui) with no delay, so the figures are the daemons' own cost.
A's one executor is held busy by a blocker job its ComfyUI sleeps on, and A runs RUNPOD_OVERFLOW_QUEUE_DEPTH=0, so
each further job goes through its forwarder. Each job: ``POST /runsync`` (the same httpx client both ways), timed
until the completed body with its base64 PNG is in hand. One A per RUNPOD_OVERFLOW_LOCAL_FIRST_S given (the head
start of local executors: a job is never forwarded sooner after its submit), all with RUNPOD_OVERFLOW_POLL_S
(status polls start at 20 ms and double up to it). Printed: median and p90 per way, the median overhead of
forwarding, and the forwarder's CPU per job (from /proc). The machine is shared: quote medians.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, its folder comes first on sys.path, where bench/http.py would shadow the stdlib's http
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.processes import cpu_s  # noqa: E402
from tests.supervisor.harness import RunningDaemon, workflow  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
QUIET = {"COMFY_LOG_LEVEL": "WARNING"}


def one_job(client: httpx.Client, url: str, color: int) -> float:
    start = time.perf_counter()
    body: dict[str, Any] = client.post(f"{url}/runsync", json={"workflow": workflow(color)}, timeout=60).json()
    elapsed = time.perf_counter() - start
    if body.get("status") != "completed" or not base64.b64decode(body["result"]["images"][0]["data"]).startswith(PNG):
        raise RuntimeError(f"job not completed: {str(body)[:300]}")
    return elapsed


def timed(client: httpx.Client, url: str, jobs: int, first_color: int) -> list[float]:
    one_job(client, url, first_color)  # warm-up
    return [one_job(client, url, first_color + 1 + i) for i in range(jobs)]


def hold_executor_busy(a: RunningDaemon) -> None:
    """A's ComfyUI sleeps; jobs are sent until one runs on A's own executor (the forwarder may take some)."""
    httpx.post(f"http://127.0.0.1:{a.comfyui_port}/_fake/config", json={"delay_ms": 3_600_000},
               timeout=5).raise_for_status()
    for color in range(900_000, 900_050):
        job_id = a.submit(color)
        if a.wait_for(lambda job_id=job_id: a.client.get(f"{a.url}/status/{job_id}").json().get("ran_on"), 20,
                      "the blocker claimed") == "local":
            return
    raise RuntimeError("A's executor never took a blocker")


def forwarder_cpu_s(a: RunningDaemon) -> float:
    pid = a.components()["forwarder"]["pid"]
    return cpu_s(int(pid))


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return f"{name:<34} median {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   (n={len(ms)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=1.0)
    parser.add_argument("--local-first-s", type=float, nargs="+", default=[0.2, 0.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-overflow-") as tmp:
        (Path(tmp) / "b").mkdir()
        b = RunningDaemon(Path(tmp) / "b", WORKER_ID="bench-b", **QUIET).start()
        started: list[RunningDaemon] = [b]
        try:
            b.wait_ready()
            client = httpx.Client()
            direct = timed(client, b.url, args.jobs, 1)
            print(summary("straight to B (POST /runsync)", direct))
            for i, first in enumerate(args.local_first_s):
                folder = Path(tmp) / f"a{i}"
                folder.mkdir()
                a = RunningDaemon(folder, WORKER_ID=f"bench-a{i}", PIPELINE_DEPTH="1", **QUIET,
                                  RUNPOD_OVERFLOW_ENDPOINT_ID="bench", RUNPOD_OVERFLOW_BASE_URL=f"{b.url}/v2",
                                  RUNPOD_OVERFLOW_QUEUE_DEPTH="0", RUNPOD_OVERFLOW_POLL_S=str(args.poll_s),
                                  RUNPOD_OVERFLOW_LOCAL_FIRST_S=str(first)).start()
                started.append(a)
                a.wait_ready()
                a.wait_for(lambda a=a: a.components().get("forwarder", {}).get("state") == "running", 20,
                           "the forwarder")
                hold_executor_busy(a)
                cpu_before = forwarder_cpu_s(a)
                through = timed(client, a.url, args.jobs, 1000 * (i + 1))
                cpu = (forwarder_cpu_s(a) - cpu_before) / (args.jobs + 1)
                print(summary(f"A -> B's /v2, local first {first:g} s", through)
                      + f"   overhead {1000 * (statistics.median(through) - statistics.median(direct)):+.1f} ms"
                      + f"   forwarder CPU {1000 * cpu:.1f} ms/job")
            client.close()
        finally:
            for daemon in reversed(started):
                daemon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
