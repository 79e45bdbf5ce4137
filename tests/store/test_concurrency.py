"""The store across OS processes: racing claimers, and a writer killed mid-write."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import apsw

from store import JobStatus, Store

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {}}}


def _claim_all(path: str, worker: str, start: mp.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    store = Store(path)
    start.wait()
    claimed, idle = [], 0
    while idle < 50:
        job = store.claim(worker)
        if job is None:
            idle += 1
            time.sleep(0.002)
            continue
        idle = 0
        claimed.append(job.id)
        store.complete(job.id, worker, {"by": worker})
    out.put(claimed)


def test_racing_processes_claim_every_job_exactly_once(db_path: str) -> None:
    store = Store(db_path)
    ids = {store.create_job(WORKFLOW).id for _ in range(2000)}
    ctx = mp.get_context("spawn")
    out, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim_all, args=(db_path, f"w{i}", start, out)) for i in range(4)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every claimer open the store, then start them together
    start.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    claimed = [job_id for r in results for job_id in r]
    assert len(claimed) == len(ids) and set(claimed) == ids
    assert sum(1 for r in results if r) >= 2, "the race needs at least two claimers that got work"
    assert store.stats()["completed"] == len(ids)
    assert all(store.get_job(i).result == {"by": store.get_job(i).worker_id} for i in list(ids)[:20])


WRITER = """
import sys
from store import Store, OutputFile
store = Store(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    job = store.create_job({"1": {"class_type": "X", "inputs": {"i": i}}})
    store.claim("w")
    store.complete(job.id, "w", {"i": i}, [OutputFile(0, "o.png", "image/png", b"x" * 20000)])
    print(job.id, flush=True)
    i += 1
"""


def test_a_writer_killed_mid_write_leaves_a_consistent_database(db_path: str) -> None:
    Store(db_path).close()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_path], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    committed = []
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        committed.append(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(committed) > 10
    conn = apsw.Connection(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    store = Store(db_path)
    for job_id in committed:  # every job the writer reported as committed is there, completed, with its output
        job = store.get_job(job_id)
        assert job.status is JobStatus.COMPLETED
        assert store.get_output(job_id, 0) is not None
    counted = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
    stats = store.stats()
    assert {k: v for k, v in stats.items() if v and k != "total"} == counted  # the triggers' counts are exact
    assert stats["total"] >= len(committed)
