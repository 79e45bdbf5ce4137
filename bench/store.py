"""Store benchmark: `uv run python bench/store.py` prints a table of the figures below.

1. inserts/s from one process (one transaction per job, as POST /run does);
2. claims/s from a second process while the first inserts (both rates reported);
3. stats latency with 1,000,000 rows;
4. the longest stall of a concurrent insert while cleanup deletes 1,000,000 old rows.
Targets (2 cores, WAL, synchronous=NORMAL): >= 5,000 inserts/s and >= 5,000 claims/s concurrently,
stats <= 20 ms at 1M rows, no insert stalled > 100 ms by cleanup.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store import JobStatus, Store
from store.testing import fill_jobs

WORKFLOW = {"3": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "ComfyUI"}}}


def insert_rate(path: str, n: int) -> float:
    store = Store(path)
    start = time.perf_counter()
    for _ in range(n):
        store.create_job(WORKFLOW)
    return n / (time.perf_counter() - start)


def _inserter(path: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = Store(path)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        store.create_job(WORKFLOW)
        n += 1
    out.put(("inserts", n / seconds))


def _claimer(path: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = Store(path)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        if store.claim("bench") is None:
            time.sleep(0.0005)  # an idle claimer backs off instead of hammering the write lock
            continue
        n += 1
    out.put(("claims", n / seconds))


def concurrent_rates(path: str, seconds: float) -> dict[str, float]:
    store = Store(path)
    fill_jobs(store, int(seconds * 20_000), JobStatus.PENDING, at=time.time())  # a backlog: the claimer never idles
    store.close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=f, args=(path, seconds, out)) for f in (_inserter, _claimer)]
    for p in procs:
        p.start()
    rates = dict(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return rates


def stats_latency_ms(store: Store, repeats: int = 200) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        store.stats()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _paced_inserter(path: str, stop: mp.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = Store(path)
    stalls = []
    while not stop.is_set():
        start = time.perf_counter()
        store.create_job(WORKFLOW)
        stalls.append((time.perf_counter() - start) * 1000)
        time.sleep(0.002)
    out.put(stalls)


def cleanup_stall(path: str) -> tuple[int, float, float, float]:
    """(rows deleted, cleanup seconds, max insert ms, p99 insert ms) while cleanup deletes the old rows."""
    ctx = mp.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_paced_inserter, args=(path, stop, out))
    proc.start()
    time.sleep(1.0)  # let the inserter get going
    store = Store(path)
    start = time.perf_counter()
    deleted = store.cleanup(24)
    elapsed = time.perf_counter() - start
    time.sleep(0.2)
    stop.set()
    stalls = out.get(timeout=60)
    proc.join()
    return deleted, elapsed, max(stalls), statistics.quantiles(stalls, n=100)[98]


def big_table(path: str, n: int) -> list[tuple[str, str, str]]:
    """Stats latency at `n` rows, then the insert stalls while cleanup deletes them."""
    store = Store(path)
    fill_jobs(store, n, JobStatus.COMPLETED, at=time.time() - 48 * 3600)
    stats_ms = stats_latency_ms(store)
    store.close()
    deleted, seconds, worst, p99 = cleanup_stall(path)
    return [(f"stats latency at {n:,} rows (median ms)", f"{stats_ms:.3f}", "<= 20"),
            (f"cleanup of {deleted:,} old rows (s)", f"{seconds:.1f}", ""),
            ("insert latency during cleanup, max ms", f"{worst:.1f}", "<= 100"),
            ("insert latency during cleanup, p99 ms", f"{p99:.1f}", "")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--inserts", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="skip the 1M-row stats and cleanup figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        rate = insert_rate(f"{tmp}/insert.db", args.inserts)
        rows.append(("inserts/s, one process", f"{rate:,.0f}", ">= 5,000"))
        both = concurrent_rates(f"{tmp}/concurrent.db", args.seconds)
        rows.append(("inserts/s while another process claims", f"{both['inserts']:,.0f}", ">= 5,000"))
        rows.append(("claims/s while another process inserts", f"{both['claims']:,.0f}", ">= 5,000"))
        if not args.quick:
            rows += big_table(f"{tmp}/big.db", args.rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
