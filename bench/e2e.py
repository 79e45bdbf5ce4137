"""End-to-end benchmark: W1, W2 and W3 of issue 11 through raw ComfyUI and through the daemon, one run.

    COMFYUI_PATH=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/python uv run python bench/e2e.py [--quick] [--reps 3]

Starts one real ComfyUI (``--cpu``, its own temp folders) and one ``comfyui-worker run`` attached to it
(``COMFYUI_URL``, HTTP mode, default settings), then measures each system with the same aiohttp client
(bench/workloads.py): ``raw`` (ComfyUI itself: /prompt, one /ws, /history, /view; W3 uploads first),
``worker-sync`` (POST /runsync?wait=120), ``worker-poll`` (POST /run, GET /status every 10 ms) and
``worker-wait`` (POST /run, GET /status?wait=60). The systems take turns workload by workload within each rep,
so a ratio compares runs made seconds apart; ComfyUI's output and input folders are emptied before every run.

Printed: W1 makespan, W2 median and p90, W3 median (medians over the reps), their ratios to raw, the daemon's own
CPU per W1 job (utime+stime of its process tree, ComfyUI excluded), ComfyUI's CPU per W1 job, the daemon's RSS
idle and after W1, each process's idle CPU, the load other processes put on the machine, and the checks
(ok/failed/wrong output: every PNG's first pixel is compared with the job's colour). ``--json`` keeps everything.
``--slow N`` adds N jobs of about a second (32 at a time) for the ~1 s overhead ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
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

from bench import processes as procs  # noqa: E402
from bench import workloads as wl  # noqa: E402

SYSTEMS = ("raw", "worker-sync", "worker-poll", "worker-wait")


def make_client(system: str, urls: dict[str, str], session: Any, poll_s: float) -> wl.Client:
    if system == "raw":
        return wl.RawComfyUI(urls["comfyui"], session)
    return wl.Worker(urls["daemon"], session, system.removeprefix("worker-"), poll_s)


async def one_run(client: wl.Client, workload: str, sizes: dict[str, int], colours: wl.Colours,
                  prefix: str) -> dict[str, Any]:
    if workload == "W1":
        return await wl.w1(client, colours, sizes["W1"], sizes["conc"], prefix)
    if workload == "W2":
        return await wl.w2(client, colours, sizes["W2"], prefix)
    if workload == "W3":
        return await wl.w3(client, sizes["W3"], prefix)
    return await wl.w1(client, colours, sizes["slow"], sizes["conc"], prefix, wl.slow_workflow)


async def measure(args: argparse.Namespace, comfy: procs.Started, daemon: procs.Started | None,
                  folders: list[Path], results: dict[str, Any]) -> None:
    urls = {"comfyui": comfy.url, "daemon": daemon.url if daemon else ""}
    sizes = {"W1": args.w1, "conc": args.conc, "W2": args.w2, "W3": args.w3, "slow": args.slow}
    workloads = [w for w in ("W1", "W2", "W3") if sizes[w]] + (["slow"] if args.slow else [])
    colours = wl.Colours()
    async with wl.session() as session:
        clients = {s: make_client(s, urls, session, args.poll_s) for s in args.systems}
        for system, client in clients.items():
            await client.start()
            results[system] = {"warmup_errors": await wl.warm_up(client, colours, f"{wl.PREFIX}warm"), "runs": {}}
        try:
            for rep in range(args.reps):
                for workload in workloads:
                    for system, client in clients.items():
                        results[system]["runs"].setdefault(workload, []).append(
                            await rep_of(args, system, client, workload, sizes, colours, comfy, daemon, folders))
                        show(system, workload, rep, results[system]["runs"][workload][-1])
        finally:
            for client in clients.values():
                await client.stop()


async def rep_of(args: argparse.Namespace, system: str, client: wl.Client, workload: str, sizes: dict[str, int],
                 colours: wl.Colours, comfy: procs.Started, daemon: procs.Started | None,
                 folders: list[Path]) -> dict[str, Any]:
    procs.clean(folders)
    daemon_pid = daemon.pid if daemon else None
    quiet = None
    if args.quiet_max_wait > 0:
        quiet = await asyncio.to_thread(procs.wait_quiet, comfy.pid, daemon_pid, args.quiet_cores,
                                        args.quiet_max_wait)
    with procs.CpuWindow(comfy.pid, daemon_pid) as window:
        out = await one_run(client, workload, sizes, colours, f"{wl.PREFIX}{workload.lower()}")
    out |= window.result | {"foreign_cores_before": quiet, "client_stats": dict(client.stats)}
    if workload == "W1" and daemon and system != "raw":
        await asyncio.sleep(1.0)  # as peerbench: RSS a second after the last result
        out["daemon_rss_kb"] = sum(procs.rss_kb(p) for p in procs.tree(daemon.pid, comfy.pid))
    return out


def show(system: str, workload: str, rep: int, r: dict[str, Any]) -> None:
    figure = f"makespan {r['makespan_s']:.3f} s" if "makespan_s" in r else \
        f"median {r.get('median_ms', float('nan')):.1f} ms p90 {r.get('p90_ms', float('nan')):.1f} ms"
    print(f"  rep {rep + 1} {workload:<4} {system:<12} {figure}  ok {r['ok']}/{r['n']} wrong {r['wrong']}"
          f"  cpu: comfyui {r['comfy_cpu_s']:.2f} s, daemon {r['daemon_cpu_s']:.2f} s, client "
          f"{r['client_cpu_s']:.2f} s, others {r['foreign_cores']:.2f} cores"
          + (f"  errors {r['error_samples']}" if r["errors"] else ""), flush=True)


def idle_figures(daemon: procs.Started, comfy_pid: int, seconds: float = 5.0) -> dict[str, Any]:
    """The daemon's RSS (its tree, ComfyUI excluded) and each process's CPU while no job runs."""
    pids = procs.tree(daemon.pid, comfy_pid)
    before = {p: procs.cpu_s(p) for p in pids}
    rss = []
    for _ in range(3):
        rss.append(sum(procs.rss_kb(p) for p in pids))
        time.sleep(seconds / 3)
    cpu = {f"{procs.name(p)} ({p})": (procs.cpu_s(p) - before[p]) / seconds * 100 for p in pids}
    return {"rss_kb": int(statistics.median(rss)), "cpu_percent": cpu, "pids": pids}


# --- the table ---------------------------------------------------------------------------------------------

def med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def figures(system: str, result: dict[str, Any], sizes: dict[str, int]) -> dict[str, float | None]:
    runs = result["runs"]
    w1 = runs.get("W1", [])
    out = {"W1 makespan s": med(w1, "makespan_s"), "W2 median ms": med(runs.get("W2", []), "median_ms"),
           "W2 p90 ms": med(runs.get("W2", []), "p90_ms"), "W3 median ms": med(runs.get("W3", []), "median_ms"),
           "slow makespan s": med(runs.get("slow", []), "makespan_s")}
    jobs = sizes["W1"] or 1
    ours = system != "raw"  # during raw's runs the daemon only idles
    out["own CPU/W1 job ms"] = med([{"v": r["daemon_cpu_s"] / jobs * 1000} for r in w1], "v") if ours else None
    out["ComfyUI CPU/W1 job ms"] = med([{"v": r["comfy_cpu_s"] / jobs * 1000} for r in w1], "v")
    out["RSS after W1 MB"] = (m / 1024) if (m := med(w1, "daemon_rss_kb")) else None
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(results: dict[str, Any], sizes: dict[str, int], idle: dict[str, Any] | None) -> str:
    figs = {s: figures(s, r, sizes) for s, r in results.items()}
    cols = [c for c in next(iter(figs.values())) if any(f[c] is not None for f in figs.values())]
    lines = ["| system | " + " | ".join(cols) + " | checks ok/failed/wrong | others' load (cores, max) |",
             "|---|" + "---|" * (len(cols) + 2)]
    for system, f in figs.items():
        runs = [r for rs in results[system]["runs"].values() for r in rs]
        checks = f"{sum(r['ok'] for r in runs)}/{sum(r['errors'] for r in runs)}/{sum(r['wrong'] for r in runs)}"
        load = max((r["foreign_cores"] for r in runs), default=0.0)
        lines.append(f"| {system} | " + " | ".join(fmt(f[c], 3 if c.endswith(" s") else 1) for c in cols)
                     + f" | {checks} | {load:.2f} |")
    ratio_cols = [c for c in cols if c.startswith(("W", "slow"))]
    base = figs.get("raw")
    if base:
        lines += ["", "Ratios to raw (the same run):", "",
                  "| system | " + " | ".join(ratio_cols) + " |", "|---|" + "---|" * len(ratio_cols)]
        for system, f in figs.items():
            cells = [fmt(v / b, 2) + "x" if (v := f[c]) and (b := base[c]) else "—" for c in ratio_cols]
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
    if idle:
        per = ", ".join(f"{k} {v:.1f} %" for k, v in idle["cpu_percent"].items())
        lines += ["", f"Daemon idle: RSS {idle['rss_kb'] / 1024:.1f} MB; CPU of a core: {per}"]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------------------

def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--w1", type=int, default=200, help="W1 jobs (0: skip)")
    p.add_argument("--conc", type=int, default=32, help="W1 client tasks")
    p.add_argument("--w2", type=int, default=50, help="W2 jobs (0: skip)")
    p.add_argument("--w3", type=int, default=30, help="W3 jobs (0: skip)")
    p.add_argument("--slow", type=int, default=0, help="jobs of about 1 s, 32 at a time (0: skip)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 rep, W1 40, W2 10, W3 5, no quiet wait")
    p.add_argument("--poll-s", type=float, default=0.01, help="worker-poll's interval")
    p.add_argument("--quiet-cores", type=float, default=0.3, help="before each run, wait until others use less")
    p.add_argument("--quiet-max-wait", type=float, default=20.0, help="...but at most this many seconds")
    p.add_argument("--idle-s", type=float, default=5.0, help="seconds over which the idle daemon is measured")
    p.add_argument("--json", type=Path, help="write every figure here")
    p.add_argument("--keep-tmp", action="store_true", help="keep ComfyUI's folders, the logs and the store")
    args = p.parse_args()
    args.systems = [s for s in args.systems.split(",") if s]
    if unknown := set(args.systems) - set(SYSTEMS):
        p.error(f"unknown systems {sorted(unknown)}; known: {', '.join(SYSTEMS)}")
    if args.quick:
        args.reps, args.w1, args.w2, args.w3, args.quiet_max_wait = 1, 40, 10, 5, 0.0
    return args


def worker_command() -> list[str]:
    if command := os.environ.get("WORKER_CMD"):
        return shlex.split(command)
    venv = ROOT / ".venv" / "bin" / "comfyui-worker"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "supervisor"]


def main() -> int:
    args = parse()
    if not os.environ.get("COMFYUI_PATH"):
        sys.exit("COMFYUI_PATH must name a ComfyUI folder (and COMFYUI_PYTHON the python that runs it)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    started: list[procs.Started] = []
    results: dict[str, Any] = {}
    idle = None
    try:
        comfy, folders = procs.start_comfyui(os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON", "python3"),
                                             shlex.split(os.environ.get("COMFYUI_ARGS", "")), tmp)
        started.append(comfy)
        print(f"ComfyUI {comfy.url} ready in {comfy.wait_ready('/system_stats', 600):.1f} s", flush=True)
        daemon = None
        if any(s != "raw" for s in args.systems):
            daemon = procs.start_daemon(worker_command(), comfy.url, tmp)
            started.append(daemon)
            print(f"daemon {daemon.url} ready in {daemon.wait_ready('/health', 120):.1f} s", flush=True)
            time.sleep(min(3.0, args.idle_s))
            idle = idle_figures(daemon, comfy.pid, args.idle_s)
        asyncio.run(measure(args, comfy, daemon, [folders["output"], folders["input"]], results))
    finally:
        for process in reversed(started):
            process.stop()
        if args.keep_tmp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sizes = {"W1": args.w1, "W2": args.w2, "W3": args.w3, "slow": args.slow, "conc": args.conc}
    print(f"\n{args.reps} rep(s); W1 {args.w1} jobs x {args.conc} clients, W2 {args.w2}, W3 {args.w3}"
          + (f", slow {args.slow}" if args.slow else "") + "; medians over the reps\n")
    print(table(results, sizes, idle))
    if args.json:
        args.json.write_text(json.dumps({"sizes": sizes, "reps": args.reps, "comfyui_pid": started[0].pid,
                                         "idle": idle, "results": results}, indent=1))
    return 0 if all(r["ok"] == r["n"] and not r["wrong"] for res in results.values()
                    for rs in res["runs"].values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
