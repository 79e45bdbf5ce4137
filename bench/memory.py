"""Memory and CPU per job of our own processes (supervisor, executor, transport), ComfyUI excluded.

    uv run python bench/memory.py [--modes http,runpod] [--jobs 200] [--clients 32] [--flows sync,poll]

Starts ``comfyui-worker run`` in front of the fake ComfyUI (tests/fake_comfyui) or, with COMFYUI_URL set, attached
to that ComfyUI (as ../shared/peerbench does: no COMFYUI_PATH, defaults for every knob). Per mode (HTTP_API_MODE
true, or the RunPod SDK's local API), prints each of our processes' RSS, PSS and USS (from
/proc/<pid>/smaps_rollup) idle, then after each W1-like round (N trivial jobs, C concurrent clients; HTTP: the
``sync`` flow is ``POST /runsync?wait=120``, ``poll`` is ``POST /run`` + ``GET /status`` every 10 ms; RunPod:
``POST /runsync``), with each process's CPU ms per job in that round. ``--repeat R`` runs each round R times
(RSS after every one shows whether memory grows per job).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, its folder comes first on sys.path, where bench/http.py would shadow the stdlib's http
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402  (the runpod SDK's dependency; the same client as ../shared/peerbench)

from bench.processes import cpu_s  # noqa: E402
from tests.supervisor.harness import free_ports, workflow  # noqa: E402

RUNNING = ("pending", "running", "queued", "in_progress")
REQUESTS = [0]  # HTTP requests sent to the daemon


# --- our processes ---------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *descendants(child)]
    return found


def role(pid: int) -> str | None:
    """``supervisor``, ``executor-N``, ``http`` or ``runpod`` for our processes, None for ComfyUI."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return None
    if "supervisor" not in argv:
        return None
    command = argv[argv.index("supervisor") + 1:]
    if not command:
        return None
    if command[0] == "executor":
        return f"executor-{command[command.index('--instance') + 1]}"
    return {"run": "supervisor"}.get(command[0], command[0])


def ours(root: int) -> dict[str, list[int]]:
    """Role -> pids (the role's process and anything it started, e.g. a uvicorn worker)."""
    roles: dict[str, list[int]] = {"supervisor": [root]}
    for child in children(root):
        name = role(child)
        if name:
            roles[name] = [child, *descendants(child)]
    return roles


def memory_kb(pid: int) -> dict[str, int]:
    """rss, pss, uss (private clean + dirty) in kB."""
    values = {"rss": 0, "pss": 0, "uss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    values[key.lower()] += int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    values["uss"] += int(rest.split()[0])
    except OSError:
        pass
    return values


def snapshot(root: int) -> dict[str, dict[str, float]]:
    rows = {}
    for name, pids in ours(root).items():
        mem = [memory_kb(p) for p in pids]
        rows[name] = {"rss": sum(m["rss"] for m in mem), "pss": sum(m["pss"] for m in mem),
                      "uss": sum(m["uss"] for m in mem), "cpu": sum(cpu_s(p) for p in pids)}
    return rows


def report(title: str, now: dict[str, dict[str, float]], before: dict[str, dict[str, float]] | None,
           jobs: int) -> None:
    print(f"\n{title}")
    print(f"  {'process':<12} {'RSS MB':>8} {'PSS MB':>8} {'USS MB':>8}" + ("  CPU ms/job" if before else ""))
    total = {"rss": 0.0, "pss": 0.0, "uss": 0.0, "cpu": 0.0}
    for name, row in sorted(now.items()):
        line = f"  {name:<12} " + " ".join(f"{row[k] / 1024:8.1f}" for k in ("rss", "pss", "uss"))
        for key in total:
            total[key] += row[key] - (before.get(name, {}).get(key, 0) if before and key == "cpu" else 0)
        if before:
            used = row["cpu"] - before.get(name, {}).get("cpu", 0.0)
            line += f"  {used * 1000 / jobs:10.2f}"
        print(line)
    line = f"  {'total':<12} " + " ".join(f"{total[k] / 1024:8.1f}" for k in ("rss", "pss", "uss"))
    if before:
        line += f"  {total['cpu'] * 1000 / jobs:10.2f}"
    print(line)


# --- the daemon ------------------------------------------------------------------------------------------

def start(mode: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_ports(1)
    env = {k: v for k, v in os.environ.items() if k not in ("COMFYUI_PATH", "COMFYUI_PYTHON")}
    env |= {"API_HOST": "127.0.0.1", "API_PORT": str(port), "SQLITE_DB_PATH": str(tmp / "jobs.db"),
            "DATA_DIR": str(tmp / "data"), "COMFY_LOG_LEVEL": env.get("COMFY_LOG_LEVEL", "INFO")}
    env |= {"HTTP_API_MODE": "true"} if mode == "http" else {"HTTP_API_MODE": "false", "SERVE_API_LOCALLY": "true"}
    if not os.environ.get("COMFYUI_URL"):
        env |= {"COMFYUI_PATH": str(ROOT / "tests" / "fake_comfyui"), "COMFYUI_PYTHON": sys.executable,
                "COMFYUI_PORT": str(free_ports(1))}
    log = tmp / f"{mode}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "supervisor", "run"], env=env, cwd=str(ROOT),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}", log


async def wait_ready(proc: subprocess.Popen[bytes], url: str, mode: str, log: Path) -> None:
    path = "/health" if mode == "http" else "/openapi.json"
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                async with session.get(url + path) as r:
                    if r.status == 200 and (mode != "http" or await one_job(session, url, mode, "sync", 1)):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the daemon was not ready in 60 s:\n{log.read_text()[-3000:]}")


# --- jobs ------------------------------------------------------------------------------------------------

async def one_job(session: aiohttp.ClientSession, url: str, mode: str, flow: str, color: int) -> bool:
    """One trivial job to its PNG; False when it did not complete."""
    wf = workflow(color)
    REQUESTS[0] += 1
    if mode == "runpod":
        async with session.post(url + "/runsync", json={"input": {"workflow": wf}}) as r:
            body = await r.json()
        images = (body.get("output") or {}).get("images") if body.get("status") == "COMPLETED" else None
    else:
        if flow == "sync":
            async with session.post(url + "/runsync", params={"wait": "120"}, json={"workflow": wf}) as r:
                body = await r.json()
        else:
            async with session.post(url + "/run", json={"workflow": wf}) as r:
                body = await r.json()
            body["status"] = "pending"
        while body.get("status") in RUNNING:
            await asyncio.sleep(0.01)
            REQUESTS[0] += 1
            async with session.get(f"{url}/status/{body['job_id']}") as r:
                body = await r.json()
        images = (body.get("result") or {}).get("images") if body.get("status") == "completed" else None
    return bool(images) and base64.b64decode(images[0]["data"]).startswith(b"\x89PNG")


async def round_of_jobs(url: str, mode: str, flow: str, jobs: int, clients: int, first_color: int) -> int:
    """Run ``jobs`` jobs from ``clients`` concurrent clients; the number that failed."""
    todo = iter(range(first_color, first_color + jobs))
    failed = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal failed
        for color in todo:
            if not await one_job(session, url, mode, flow, color % 0xFFFFFF):
                failed += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return failed


async def bench_mode(mode: str, args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-memory-{mode}-"))
    proc, url, log = start(mode, tmp)
    try:
        await wait_ready(proc, url, mode, log)
        await asyncio.sleep(args.settle)
        where = os.environ.get("COMFYUI_URL") or "the fake ComfyUI"
        report(f"== {mode} mode ({where}): idle, ready", snapshot(proc.pid), None, 1)
        color = 1000
        flows = args.flows.split(",") if mode == "http" else ["sync"]
        for flow in flows:
            for rep in range(args.repeat):
                before, sent = snapshot(proc.pid), REQUESTS[0]
                started = time.perf_counter()
                failed = await round_of_jobs(url, mode, flow, args.jobs, args.clients, color)
                wall = time.perf_counter() - started
                color += args.jobs
                await asyncio.sleep(args.settle)
                report(f"== {mode} mode, after {args.jobs} jobs, {args.clients} clients, flow {flow}, round "
                       f"{rep + 1}: {wall:.2f} s, {failed} failed, {(REQUESTS[0] - sent) / args.jobs:.1f} "
                       "requests/job", snapshot(proc.pid), before, args.jobs)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="http,runpod", help="http, runpod or both (comma-separated)")
    parser.add_argument("--flows", default="sync,poll", help="HTTP mode: sync (/runsync) and/or poll (/run+/status)")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per flow (RSS after each)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait before reading RSS")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, store)")
    args = parser.parse_args()
    for mode in args.modes.split(","):
        asyncio.run(bench_mode(mode.strip(), args))


if __name__ == "__main__":
    main()
