"""W2 latency: trivial jobs one after another, submit -> PNG bytes in hand, through the daemon and raw ComfyUI.

    COMFYUI_PATH=... COMFYUI_PYTHON=... COMFYUI_ARGS=--cpu uv run python bench/latency.py [--jobs 50] [--rounds 3]

Three ways, in turns within one run, against the one ComfyUI the daemon started (the fake one without
COMFYUI_PATH): ``raw`` (``POST /prompt`` + one shared websocket, done on ``executing {node: null}``, then
``/history`` and ``/view``), ``runsync`` (``POST /runsync``, base64 output), ``run+wait`` (``POST /run`` then
``GET /status?wait=``). The same httpx client everywhere. Printed: median and p90 per way, and the ratio of
each median to raw's. The daemon runs with its default POLL_INTERVAL_S unless --poll-interval-s is given.
The machine is shared: quote medians.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
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

from tests.supervisor.harness import RunningDaemon, workflow  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
TEST_SPEEDUPS = ("POLL_INTERVAL_S", "HEARTBEAT_INTERVAL_S", "COMFYUI_PROBE_INTERVAL_S", "RECOVERY_INTERVAL_S")


def _png(body: dict[str, Any]) -> None:
    if body.get("status") != "completed":
        raise RuntimeError(f"job not completed: {json.dumps(body)[:300]}")
    if not base64.b64decode(body["result"]["images"][0]["data"]).startswith(PNG):
        raise RuntimeError("not a PNG")


async def runsync(client: httpx.AsyncClient, color: int) -> None:
    body = (await client.post("/runsync", json={"workflow": workflow(color)}, params={"wait": 60})).json()
    _png(body)


async def run_wait(client: httpx.AsyncClient, color: int) -> None:
    job_id = (await client.post("/run", json={"workflow": workflow(color)})).raise_for_status().json()["job_id"]
    while (body := (await client.get(f"/status/{job_id}", params={"wait": 60})).json())["status"] in (
            "pending", "running"):
        pass
    _png(body)


class Raw:
    """ComfyUI itself: one websocket for the whole run, as an efficient direct client would keep."""

    def __init__(self, client: httpx.AsyncClient, ws: Any, client_id: str, output_dir: Path) -> None:
        self.client, self.ws, self.client_id, self.output_dir = client, ws, client_id, output_dir

    async def __call__(self, color: int) -> None:
        answer = await self.client.post("/prompt", json={"prompt": workflow(color), "client_id": self.client_id})
        prompt_id = answer.raise_for_status().json()["prompt_id"]
        while True:  # not execution_success: history may still be empty then (trace 36)
            message = await self.ws.recv()
            if isinstance(message, bytes):
                continue
            event = json.loads(message)
            data = event.get("data", {})
            if event["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                break
        history = (await self.client.get(f"/history/{prompt_id}")).raise_for_status().json()[prompt_id]
        image = next(iter(history["outputs"].values()))["images"][0]
        params = {k: image[k] for k in ("filename", "subfolder", "type")}
        if not (await self.client.get("/view", params=params)).raise_for_status().content.startswith(PNG):
            raise RuntimeError("not a PNG")
        (self.output_dir / image["subfolder"] / image["filename"]).unlink(missing_ok=True)


async def timed(job: Any, colors: list[int]) -> list[float]:
    latencies = []
    for color in colors:
        started = time.perf_counter()
        await job(color)
        latencies.append(time.perf_counter() - started)
    return latencies


async def bench(daemon: RunningDaemon, jobs: int, rounds: int) -> dict[str, list[float]]:
    comfy = f"http://127.0.0.1:{daemon.comfyui_port}"
    client_id = uuid.uuid4().hex
    output_dir = daemon.tmp / "data" / "comfyui-0" / "output"
    results: dict[str, list[float]] = {"raw": [], "runsync": [], "run+wait": []}
    async with httpx.AsyncClient(base_url=daemon.url, timeout=120) as api, \
            httpx.AsyncClient(base_url=comfy, timeout=120) as direct, \
            websockets.connect(comfy.replace("http://", "ws://") + f"/ws?clientId={client_id}",
                               max_size=None) as ws:
        ways = {"raw": Raw(direct, ws, client_id, output_dir),
                "runsync": lambda c: runsync(api, c), "run+wait": lambda c: run_wait(api, c)}
        for i, job in enumerate(ways.values()):  # warm-up, not recorded
            await timed(job, [900_000 + 10 * i + k for k in range(3)])
        for r in range(rounds):
            for i, (name, job) in enumerate(ways.items()):
                base = 1 + r * 10_000 + i * 1_000
                results[name] += await timed(job, list(range(base, base + jobs)))
    return results


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="turns of raw / runsync / run+wait")
    parser.add_argument("--poll-interval-s", default=None, help="POLL_INTERVAL_S (default: the daemon's)")
    args = parser.parse_args()
    env = {"COMFY_LOG_LEVEL": "INFO", "COMFYUI_HANG_TIMEOUT_S": "60", "COMFYUI_STARTUP_TIMEOUT_S": "600",
           "HEARTBEAT_STALE_S": "30"}
    if os.environ.get("COMFYUI_PATH"):
        env |= {"COMFYUI_PATH": os.environ["COMFYUI_PATH"],
                "COMFYUI_PYTHON": os.environ.get("COMFYUI_PYTHON", sys.executable),
                "COMFYUI_ARGS": os.environ.get("COMFYUI_ARGS", "--cpu")}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        daemon = RunningDaemon(Path(tmp), **env)
        for key in TEST_SPEEDUPS:  # the daemon's own defaults, not the test harness's
            daemon.env.pop(key, None)
        if args.poll_interval_s:
            daemon.env["POLL_INTERVAL_S"] = args.poll_interval_s
        daemon.start()
        try:
            daemon.wait_ready(timeout=600)
            results = asyncio.run(bench(daemon, args.jobs, args.rounds))
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait_exit(120)
            daemon.close()
    raw = statistics.median(results["raw"])
    which = "real" if os.environ.get("COMFYUI_PATH") else "fake"
    print(f"W2: {args.jobs} jobs x {args.rounds} rounds, {which} ComfyUI, "
          f"POLL_INTERVAL_S={args.poll_interval_s or 'default'}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:>9}: median {median * 1000:7.2f} ms  p90 {p90(values) * 1000:7.2f} ms  "
              f"ratio {median / raw:5.2f}")
    print(json.dumps({name: {"median_ms": statistics.median(v) * 1000, "p90_ms": p90(v) * 1000}
                      for name, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
