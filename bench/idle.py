"""Idle CPU of each of the daemon's own processes (supervisor, executor, transport), as % of one core.

    uv run python bench/idle.py [--seconds 60] [--poll-interval-s S]

Starts ``comfyui-worker run`` (HTTP mode) with the fake ComfyUI (or COMFYUI_PATH), waits until it is ready and
has settled, then reads utime+stime from /proc/<pid>/stat of each process at the start and the end of the
window. No job runs: this is what an idle daemon costs. ComfyUI's own CPU is not counted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from tests.supervisor.harness import RunningDaemon  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
TEST_SPEEDUPS = ("POLL_INTERVAL_S", "HEARTBEAT_INTERVAL_S", "COMFYUI_PROBE_INTERVAL_S", "RECOVERY_INTERVAL_S")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--poll-interval-s", default=None, help="POLL_INTERVAL_S (default: the daemon's)")
    args = parser.parse_args()
    env = {"COMFY_LOG_LEVEL": "INFO", "COMFYUI_STARTUP_TIMEOUT_S": "600"}
    if os.environ.get("COMFYUI_PATH"):
        env |= {"COMFYUI_PATH": os.environ["COMFYUI_PATH"],
                "COMFYUI_PYTHON": os.environ.get("COMFYUI_PYTHON", sys.executable),
                "COMFYUI_ARGS": os.environ.get("COMFYUI_ARGS", "--cpu")}
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        daemon = RunningDaemon(Path(tmp), **env)
        for key in TEST_SPEEDUPS:
            daemon.env.pop(key, None)
        if args.poll_interval_s:
            daemon.env["POLL_INTERVAL_S"] = args.poll_interval_s
        daemon.start()
        try:
            daemon.wait_ready(timeout=600)
            time.sleep(5)  # start-up work (imports, the node catalog) is not idle
            assert daemon.proc is not None
            pids = {"supervisor": daemon.proc.pid} | {
                name: int(c["pid"]) for name, c in daemon.components().items()
                if c["pid"] and not name.startswith("comfyui")}
            before = {name: cpu_s(pid) for name, pid in pids.items()}
            time.sleep(args.seconds)
            after = {name: cpu_s(pid) for name, pid in pids.items()}
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait_exit(120)
            daemon.close()
    print(f"idle CPU over {args.seconds:.0f} s, POLL_INTERVAL_S={args.poll_interval_s or 'default'}:")
    for name in pids:
        used = after[name] - before[name]
        print(f"  {name:>11}: {used * 1000:7.0f} ms  = {used / args.seconds * 100:5.2f} % of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
