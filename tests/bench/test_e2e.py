"""bench/e2e.py checks every output and stops what it started (no figures asserted: benchmarks print, tests don't)."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from bench import workloads as wl
from tests.supervisor.harness import alive

ROOT = Path(__file__).resolve().parents[2]


def png(rows: list[bytes], width: int, height: int) -> bytes:
    """An RGB PNG from already filtered rows (filter byte first)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def test_the_first_pixel_is_read_under_every_png_filter() -> None:
    pixels = bytes([200, 10, 99, 201, 12, 98])  # two pixels: the first one is what the check reads
    for kind in range(5):
        # the first pixel of the first row has no left or upper neighbour: every filter stores it as is
        second = [(pixels[3 + i] - pixels[i]) % 256 for i in range(3)] if kind == 1 else list(pixels[3:])
        data = png([bytes([kind]) + pixels[:3] + bytes(second), bytes(7)], 2, 2)
        assert wl.first_pixel(data) == (2, 2, (200, 10, 99)), kind
        assert wl.matches(data, 2, (201, 9, 99)), kind  # within 1 per channel
        assert not wl.matches(data, 2, (202, 10, 99)), kind


def test_a_wrong_colour_size_or_body_is_not_a_match() -> None:
    noise, pixel = wl.noise_png(16)
    assert wl.matches(noise, 16, pixel)
    assert not wl.matches(noise, 16, (pixel[0] ^ 0x80, pixel[1], pixel[2]))  # another job's output
    assert not wl.matches(noise, 64, pixel)  # another size
    assert not wl.matches(b"not a png", 16, pixel)
    assert not wl.matches(noise[:40], 16, pixel)  # cut short


def test_a_wrong_or_failed_job_is_counted() -> None:
    good, pixel = wl.noise_png(8)

    async def right() -> bytes:
        return good

    async def failed() -> bytes:
        raise wl.JobFailed("job failed: 500")

    async def run() -> dict[str, object]:
        tally = wl.Tally()
        await tally.job(right, 8, pixel)
        await tally.job(failed, 8, pixel)
        await tally.job(right, 8, (pixel[0] ^ 0x80, pixel[1], pixel[2]))
        return tally.summary(3)

    summary = asyncio.run(run())
    assert (summary["ok"], summary["errors"], summary["wrong"]) == (2, 1, 1), summary
    assert summary["error_samples"] == ["JobFailed: job failed: 500"]


def test_every_system_runs_every_workload_with_checked_outputs_and_nothing_is_left_running(tmp_path: Path) -> None:
    """Against the fake ComfyUI (it renders EmptyImage, ImageInvert and SaveImage for real), tiny sizes."""
    out = tmp_path / "figures.json"
    env = {**os.environ, "COMFYUI_PATH": str(ROOT / "tests" / "fake_comfyui"), "COMFYUI_PYTHON": sys.executable,
           "WORKER_CMD": f"{sys.executable} -m supervisor"}
    proc = subprocess.run([sys.executable, "bench/e2e.py", "--reps", "1", "--w1", "6", "--conc", "3", "--w2", "3",
                           "--w3", "2", "--quiet-max-wait", "0", "--idle-s", "1", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    figures = json.loads(out.read_text())
    assert set(figures["results"]) == {"raw", "worker-sync", "worker-poll", "worker-wait"}
    for system, result in figures["results"].items():
        assert result["warmup_errors"] == [], system
        for workload, n in (("W1", 6), ("W2", 3), ("W3", 2)):
            (run,) = result["runs"][workload]
            assert (run["n"], run["ok"], run["errors"], run["wrong"]) == (n, n, 0, 0), (system, workload, run)
            assert len(run["latencies_ms"]) == n
        if system != "raw":
            assert result["runs"]["W1"][0]["daemon_rss_kb"] > 0
    assert figures["results"]["worker-poll"]["runs"]["W2"][0]["client_stats"]["status_requests"] >= 3
    assert "Ratios to raw" in proc.stdout and "| worker-wait |" in proc.stdout
    started = [figures["comfyui_pid"], *figures["idle"]["pids"]]
    assert len(started) >= 4  # ComfyUI; the daemon's supervisor, transport and executor
    assert not [pid for pid in started if alive(pid)]
