"""Throughput and latency of POST /run and GET /status: ``comfyui-worker http`` against the seed's way.

    uv run python bench/http.py [--runs 3] [--duration 5] [--clients 32 64]

Each run starts each server fresh on its own database (ours: ``comfyui-worker http``; the baseline:
``bench/seed_baseline.py``, FastAPI + stdlib sqlite3), warms it up, then loads POST /run (a job body without
images) and GET /status/{id} (a pending job at the head of the queue, so ours computes its queue position)
at each client count. The load generator is ``wrk -t1`` when installed (``apt-get install wrk``), else a
raw-socket asyncio client in its own process (``--loadgen``). The table shows medians over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# this file shares its name with the stdlib's http package: keep its folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
BODY = json.dumps({"workflow": {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "flux1-dev.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "A beautiful landscape", "clip": ["1", 1]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}}}})
TARGETS = {"POST /run": 2500.0, "GET /status": 5000.0}
P99_TARGET_MS, RATIO_TARGET = 40.0, 1.5


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


# --- servers ------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(target: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    db = str(folder / f"{target}.db")
    log = open(folder / f"{target}.log", "ab")  # noqa: SIM115 - owned by the child
    if target == "ours":
        script = Path(sys.executable).with_name("comfyui-worker")
        cmd = [str(script), "http"] if script.exists() else [
            sys.executable, "-c", "from supervisor.cli import entry_point; entry_point()", "http"]
        env = {**os.environ, "SQLITE_DB_PATH": db, "API_HOST": "127.0.0.1", "API_PORT": str(port),
               "COMFY_LOG_LEVEL": "INFO"}
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    cmd = [sys.executable, "-P", str(ROOT / "bench" / "seed_baseline.py"), "--port", str(port), "--db", db]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def post_job(url: str) -> str:
    import urllib.request  # imports http.client: only once the path above is clean

    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url + "/run", data=BODY.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(json.load(response)["job_id"])


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> str:
    """Wait until the server takes a job; returns that job's id (the one GET /status asks about)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return post_job(url)
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server at {url} did not start") from None
            time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load generators ----------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def run_wrk(url: str, clients: int, duration: float, lua: Path | None) -> Sample:
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "5s"]
    out = subprocess.run([*cmd, *(["-s", str(lua)] if lua else []), url], capture_output=True, text=True,
                         check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    failures = r"(?:Non-2xx or 3xx responses:|timeout|read|write|connect) (\d+)"
    errors = sum(int(n) for n in re.findall(failures, out))
    return Sample(float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
                  _ms(latency["50"]), _ms(latency["99"]), errors)


def run_loadgen(url: str, clients: int, duration: float, body: str | None) -> Sample:
    cmd = [sys.executable, "-P", __file__, "--loadgen", url, str(clients), str(duration), body or ""]
    result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return Sample(**result)


async def _client(host: str, port: int, request: bytes, deadline: float, latencies: list[float],
                  errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    while (start := time.perf_counter()) < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head)[1])  # type: ignore[index]
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
        if not head.startswith(b"HTTP/1.1 2"):
            errors.append(1)
    writer.close()


def loadgen_main(url: str, clients: int, duration: float, body: str) -> None:
    """The fallback load generator (a process of its own): keep-alive raw HTTP/1.1, one request in flight
    per connection, like wrk."""
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    assert match, url
    host, port, path = match[1], int(match[2]), match[3]
    if body:
        request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    else:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(_client(host, port, request, deadline, latencies, errors)
                               for _ in range(clients)))

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    print(json.dumps({"rps": n / duration, "p50_ms": latencies[n // 2] * 1000,
                      "p99_ms": latencies[int(n * 0.99)] * 1000, "errors": len(errors)}))


# --- the benchmark ------------------------------------------------------------------------------------------

def measure(url: str, job_id: str, clients: list[int], duration: float, lua: Path | None,
            use_wrk: bool) -> dict[tuple[str, int], Sample]:
    samples = {}
    for n in clients:
        for endpoint, path, body in (("POST /run", "/run", BODY), ("GET /status", f"/status/{job_id}", None)):
            if use_wrk:
                samples[endpoint, n] = run_wrk(url + path, n, duration, lua if body else None)
            else:
                samples[endpoint, n] = run_loadgen(url + path, n, duration, body)
    return samples


def report(results: dict[tuple[str, str, int], list[Sample]], clients: list[int], generator: str) -> bool:
    def med(target: str, endpoint: str, n: int, field: str) -> float:
        return statistics.median(getattr(s, field) for s in results[target, endpoint, n])

    runs = len(next(iter(results.values())))
    print(f"\nload generator: {generator}; medians of {runs} runs; job bodies without images\n")
    print(f"{'server':<10}{'endpoint':<14}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for target in ("ours", "baseline"):
        for endpoint in TARGETS:
            for n in clients:
                errors = sum(s.errors for s in results[target, endpoint, n])
                print(f"{target:<10}{endpoint:<14}{n:>8}{med(target, endpoint, n, 'rps'):>10.0f}"
                      f"{med(target, endpoint, n, 'p50_ms'):>9.2f}{med(target, endpoint, n, 'p99_ms'):>9.2f}"
                      f"{errors:>8}")
    print("\nours / baseline (req/s):")
    ok = True
    for endpoint, floor in TARGETS.items():
        for n in clients:
            ratio = med("ours", endpoint, n, "rps") / med("baseline", endpoint, n, "rps")
            print(f"  {endpoint:<14}{n:>3} clients  {ratio:5.2f}x")
            if n == 32:
                rps, p99 = med("ours", endpoint, n, "rps"), med("ours", endpoint, n, "p99_ms")
                checks = [rps >= floor, p99 <= P99_TARGET_MS, ratio >= RATIO_TARGET]
                ok = ok and all(checks)
                print(f"    target at 32: >= {floor:.0f} req/s {'ok' if checks[0] else 'MISSED'}, "
                      f"p99 <= {P99_TARGET_MS:.0f} ms {'ok' if checks[1] else 'MISSED'}, "
                      f">= {RATIO_TARGET}x {'ok' if checks[2] else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--no-wrk", action="store_true", help="use the built-in load generator")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    results: dict[tuple[str, str, int], list[Sample]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text(f"wrk.method = 'POST'\nwrk.body = [=[{BODY}]=]\n"
                       "wrk.headers['Content-Type'] = 'application/json'\n")
        for run in range(args.runs):
            for target in ("ours", "baseline"):
                folder = Path(tmp) / f"{target}-{run}"
                folder.mkdir()
                port = free_port()
                url = f"http://127.0.0.1:{port}"
                process = start_server(target, folder, port)
                try:
                    job_id = wait_ready(url, process)
                    measure(url, job_id, args.clients[:1], args.warmup, lua, use_wrk)
                    for (endpoint, n), sample in measure(url, job_id, args.clients, args.duration, lua,
                                                         use_wrk).items():
                        results.setdefault((target, endpoint, n), []).append(sample)
                        print(f"run {run + 1} {target:<9}{endpoint:<12}{n:>3} clients: {sample.rps:8.0f} "
                              f"req/s p50 {sample.p50_ms:6.2f} ms p99 {sample.p99_ms:6.2f} ms", flush=True)
                finally:
                    stop(process)
    if args.json:
        args.json.write_text(json.dumps([{"server": t, "endpoint": e, "clients": n, **vars(s)}
                                         for (t, e, n), ss in results.items() for s in ss], indent=1))
    ok = report(results, args.clients, "wrk -t1" if use_wrk else "built-in asyncio raw-socket client")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        loadgen_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
