"""End-to-end benchmark: N prompts through ``comfyui-worker run`` vs. the same ComfyUI driven directly.

    uv run python bench/e2e.py [--jobs 200] [--slow-jobs 30] [--slow-ms 1000]

Through the daemon: every job submitted at once (POST /run), makespan until every result (GET /status with
base64 outputs) is fetched. Directly: the same prompts POSTed to ComfyUI's /prompt, completion followed on
its websocket, then /history and /view for each — the physical limit. Printed: both makespans and the ratio,
for trivial jobs (EmptyImage 64x64 -> SaveImage, a different colour each so nothing is cached) and for ~1 s
jobs. Runs the fake ComfyUI (tests/fake_comfyui, ~1 s jobs by its delay knob) unless COMFYUI_PATH names a
real ComfyUI (started with COMFYUI_ARGS, default --cpu; ~1 s jobs by a large blurred image).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, its folder comes first on sys.path, where bench/http.py would shadow the stdlib's http
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from tests.supervisor.harness import RunningDaemon, heavy_workflow, workflow  # noqa: E402

REAL = bool(os.environ.get("COMFYUI_PATH"))
EXECUTED = re.compile(r"Prompt executed in ([\d.]+) seconds")


def slow_workflow(color: int) -> dict[str, Any]:
    """About a second on a real ComfyUI on CPU (tune with BENCH_SLOW_SIZE); the fake uses its delay knob."""
    if not REAL:
        return workflow(color)
    return heavy_workflow(color, int(os.environ.get("BENCH_SLOW_SIZE", "1536")))


# --- through the daemon ------------------------------------------------------------------------------------

async def through_daemon(api: str, prompts: list[dict[str, Any]]) -> float:
    """Submit every prompt at once; seconds until every result has been fetched."""
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.post("/run", json={"workflow": p}) for p in prompts))
        ids = [r.raise_for_status().json()["job_id"] for r in responses]
        for job_id in ids:  # jobs finish about in order: wait for each in turn
            while True:  # a long poll: answered as soon as the job ends
                body = (await client.get(f"/status/{job_id}", params={"wait": 60})).raise_for_status().json()
                if body["status"] == "completed":
                    assert body["result"]["images"][0]["data"], body
                    break
                if body["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job_id} {body['status']}: {body.get('error')}")
        return time.perf_counter() - started


# --- straight to ComfyUI -----------------------------------------------------------------------------------

async def direct(comfy: str, prompts: list[dict[str, Any]], output_dir: Path) -> float:
    """POST every prompt to ComfyUI, follow its websocket, fetch /history and /view of each as it ends.

    Like the executor, it deletes each output file once fetched: SaveImage lists its folder on every save.
    """
    client_id = uuid.uuid4().hex
    ws_url = comfy.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    async with httpx.AsyncClient(base_url=comfy, timeout=120) as client, \
            websockets.connect(ws_url, max_size=None) as ws:
        started = time.perf_counter()
        pending: set[str] = set()
        for p in prompts:
            answer = await client.post("/prompt", json={"prompt": p, "client_id": client_id})
            pending.add(answer.raise_for_status().json()["prompt_id"])
        fetches = []
        while pending:
            message = await ws.recv()
            if isinstance(message, bytes):
                continue
            event = json.loads(message)
            data = event.get("data", {})
            # not execution_success: history may still be empty then (trace 36)
            done = event["type"] == "executing" and data.get("node") is None
            if done and data.get("prompt_id") in pending:
                pending.discard(data["prompt_id"])
                fetches.append(asyncio.create_task(fetch(client, data["prompt_id"], output_dir)))
            elif event["type"] == "execution_error":
                raise RuntimeError(f"prompt failed: {data}")
        await asyncio.gather(*fetches)
        return time.perf_counter() - started


async def fetch(client: httpx.AsyncClient, prompt_id: str, output_dir: Path) -> None:
    history = (await client.get(f"/history/{prompt_id}")).raise_for_status().json()[prompt_id]
    for output in history["outputs"].values():
        for image in output.get("images", []):
            params = {k: image[k] for k in ("filename", "subfolder", "type")}
            (await client.get("/view", params=params)).raise_for_status()
            if image["type"] == "output":
                (output_dir / image["subfolder"] / image["filename"]).unlink(missing_ok=True)


# --- the run -----------------------------------------------------------------------------------------------

def output_dir(daemon: RunningDaemon) -> Path:
    return daemon.tmp / "data" / "comfyui-0" / "output"


def clear_outputs(daemon: RunningDaemon) -> None:
    folder = output_dir(daemon)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def set_fake_delay(comfy: str, ms: int) -> None:
    if not REAL:
        httpx.post(f"{comfy}/_fake/config", json={"delay_ms": ms}).raise_for_status()


def comfyui_busy_s(daemon: RunningDaemon, since: int) -> float:
    """Seconds ComfyUI spent executing prompts, from its "Prompt executed in X seconds" lines since line `since`."""
    total = 0.0
    for raw in daemon.lines[since:]:
        try:
            line = json.loads(raw).get("line", "")
        except ValueError:
            continue
        if match := EXECUTED.search(line):
            total += float(match.group(1))
    return total


def measure(daemon: RunningDaemon, run: Any) -> tuple[float, float]:
    """(makespan, ComfyUI's own execution time) of one run."""
    since = len(daemon.lines)
    makespan = asyncio.run(run)
    time.sleep(0.3)  # let ComfyUI's last "Prompt executed" line through the supervisor
    clear_outputs(daemon)
    return makespan, comfyui_busy_s(daemon, since)


def compare(daemon: RunningDaemon, comfy: str, label: str, make: Any, n: int, base: int,
            rounds: int) -> dict[str, Any]:
    """Alternate daemon and direct runs `rounds` times; medians of makespans and of ComfyUI's busy time."""
    asyncio.run(through_daemon(daemon.url, [make(base + 100_000 + i) for i in range(3)]))  # warm-up
    runs: dict[str, list[tuple[float, float]]] = {"daemon": [], "direct": []}
    for r in range(rounds):
        seeds = [base + r * 1_000 + i for i in range(n)]
        runs["daemon"].append(measure(daemon, through_daemon(daemon.url, [make(c) for c in seeds])))
        runs["direct"].append(measure(daemon, direct(comfy, [make(c + 500) for c in seeds], output_dir(daemon))))
    (via_daemon, busy_daemon), (limit, busy_direct) = (
        (statistics.median(m for m, _ in runs[k]), statistics.median(b for _, b in runs[k])) for k in runs)
    ratio = via_daemon / limit
    # ComfyUI's own execution time varies by a few % run to run on a CPU; the overhead beyond it is ours
    over_busy = {k: statistics.median(m / b for m, b in v) if all(b for _, b in v) else None
                 for k, v in runs.items()}
    print(f"{label:>12}: {n} jobs x {rounds} rounds  daemon {via_daemon:7.3f} s ({via_daemon / n * 1000:6.1f} ms/job)"
          f"   direct {limit:7.3f} s ({limit / n * 1000:6.1f} ms/job)   ratio {ratio:.3f}", flush=True)
    if over_busy["daemon"] and over_busy["direct"] and busy_direct > limit / 2:  # not for 10 ms prompts
        print(f"{'':>12}  makespan / ComfyUI busy time: daemon {over_busy['daemon']:.3f}, "
              f"direct {over_busy['direct']:.3f}, ratio {over_busy['daemon'] / over_busy['direct']:.3f}", flush=True)
    return {"label": label, "jobs": n, "rounds": rounds, "daemon_s": via_daemon, "direct_s": limit, "ratio": ratio,
            "comfyui_busy_s": {"daemon": busy_daemon, "direct": busy_direct}, "makespan_over_busy": over_busy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--slow-jobs", type=int, default=30, help="jobs of ~1 s (0: skip)")
    parser.add_argument("--slow-ms", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating daemon/direct rounds (medians)")
    args = parser.parse_args()
    env = {"COMFY_LOG_LEVEL": "INFO", "COMFYUI_PROBE_INTERVAL_S": "2", "COMFYUI_HANG_TIMEOUT_S": "60",
           "COMFYUI_STARTUP_TIMEOUT_S": "600", "HEARTBEAT_INTERVAL_S": "2", "RECOVERY_INTERVAL_S": "5",
           "HEARTBEAT_STALE_S": "30", "POLL_INTERVAL_S": "0.05"}
    if REAL:
        env |= {"COMFYUI_PATH": os.environ["COMFYUI_PATH"],
                "COMFYUI_PYTHON": os.environ.get("COMFYUI_PYTHON", sys.executable),
                "COMFYUI_ARGS": os.environ.get("COMFYUI_ARGS", "--cpu")}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        daemon = RunningDaemon(Path(tmp), **env).start()
        try:
            daemon.wait_ready(timeout=600)
            comfy = f"http://127.0.0.1:{daemon.comfyui_port}"
            which = f"real, {os.environ['COMFYUI_PATH']}" if REAL else "fake (tests/fake_comfyui)"
            print(f"ComfyUI: {which}", flush=True)
            results = [compare(daemon, comfy, "trivial", workflow, args.jobs, 1, args.rounds)]
            if args.slow_jobs:
                set_fake_delay(comfy, args.slow_ms)
                results.append(compare(daemon, comfy, f"~{args.slow_ms} ms",
                                       slow_workflow, args.slow_jobs, 500_000, args.rounds))
            print(json.dumps({"comfyui": "real" if REAL else "fake", "results": results}))
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait_exit(120)
            daemon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
