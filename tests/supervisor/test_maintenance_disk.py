"""Maintenance keeps the store under STORE_MAX_MB at every recovery round, holds the disk reserve, and logs the
disk's state when it changes."""

from __future__ import annotations

import os

from config.settings import Settings
from store import JobStatus, OutputFile, Store
from supervisor.maintenance import Maintenance
from tests.supervisor.fakes import FakeClock, RecordingLog

MB = 1024 * 1024

IMAGE = {"images": [{"filename": "o.png", "type": "base64", "output_index": 0, "node_id": "9",
                     "content_type": "image/png", "subfolder": ""}]}


def finished_job(store: Store, size: int) -> str:
    job = store.create_job({"1": {}})
    store.claim("w")
    store.complete(job.id, "w", IMAGE, [OutputFile(0, "o.png", "image/png", os.urandom(size))])
    return job.id


def test_past_store_max_mb_the_oldest_outputs_go_first_at_the_next_recovery_round(db_path: str) -> None:
    now = [1_000_000.0]
    store = Store(db_path, clock=lambda: now[0])
    ids = []
    for _ in range(10):
        ids.append(finished_job(store, 200_000))
        now[0] += 1
    log = RecordingLog()
    m = Maintenance(Settings(store_max_mb=1.0, store_reserve_mb=0), FakeClock(0), log, store_factory=lambda: store)
    m.run(["recovery"])
    [evicted] = log.events("outputs_evicted")
    assert evicted["jobs"] >= 5 and evicted["store_used_bytes"] <= 0.9 * MB  # type: ignore[operator]
    assert store.space().store_used_bytes <= 0.9 * MB
    gone = [i for i in ids if store.get_outputs(i) == []]
    assert gone == ids[: len(gone)], "oldest first"
    assert store.get_job(ids[0]).result["images"][0]["type"] == "removed"  # type: ignore[index]
    assert store.get_job(ids[-1]).status is JobStatus.COMPLETED and store.get_outputs(ids[-1])
    m.run(["recovery"])
    assert len(log.events("outputs_evicted")) == 1, "under the cap: nothing more to do"
    m.close()
    store.close()


def test_the_reserve_is_made_and_disk_state_changes_are_logged(db_path: str) -> None:
    free = [10_000 * MB]
    store = Store(db_path, min_free_bytes=1024 * MB, reserve_bytes=MB, free_space=lambda folder: free[0])
    log = RecordingLog()
    m = Maintenance(Settings(), FakeClock(0), log, store_factory=lambda: store)
    m.run(["recovery"])
    assert os.path.getsize(db_path + "-reserve") == MB
    free[0] = 500 * MB
    m.run(["recovery"])
    [low] = log.events("disk_low")
    assert low["state"] == "low" and low["disk_free_bytes"] == 500 * MB
    free[0] = 5000 * MB
    m.run(["recovery"])
    assert log.events("store_recovered")[0]["state"] == "ok"
    m.close()
    store.close()
