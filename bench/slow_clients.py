"""Slow-client flood against ``comfyui-worker http``: /health latency and the server's memory while held.

    uv run python bench/slow_clients.py [--sockets 9000] [--max-connections 8192]

Opens ``--sockets`` connections that each send half a request header and stop (more than the bound, so the
oldest are evicted as new ones come), then times 50 ``GET /health`` while they are held and reads the HTTP
process's peak RSS (VmHWM). Loopback only; the client needs that many descriptors (raised to its hard limit).
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not bench/ (its http.py shadows http)

import httpx  # noqa: E402

from tests.http.server import running_server  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=9000)
    parser.add_argument("--max-connections", type=int, default=8192)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp, running_server(
            str(Path(tmp) / "jobs.db"), HTTP_MAX_CONNECTIONS=str(args.max_connections),
            HTTP_HEADER_TIMEOUT_S="60") as server:
        host, port = server.url.removeprefix("http://").split(":")
        before = peak_rss_mb(server.process.pid)
        slow = []
        started = time.monotonic()
        for _ in range(args.sockets):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        opened_s = time.monotonic() - started
        times = []
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(50):
                t0 = time.perf_counter()
                assert http.get("/health").status_code == 200
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"{args.sockets} slow sockets opened in {opened_s:.1f} s, bound {args.max_connections}")
        print(f"/health while held: median {statistics.median(times):.1f} ms, "
              f"p99 {times[int(len(times) * 0.99) - 1]:.1f} ms, max {times[-1]:.1f} ms")
        print(f"HTTP process peak RSS: {before:.0f} MB before, {peak_rss_mb(server.process.pid):.0f} MB after")
        for sock in slow:
            sock.close()


if __name__ == "__main__":
    main()
