"""A job's path has no polling quantum: the real daemon with a 30 s safety-net poll still answers at once.

With ``POLL_INTERVAL_S=30`` only the store's wake-up can bring a new job to the idle executor and a job's end to
a waiting ``/runsync`` or ``/status?wait=`` in time: each request asks the server to wait up to 60 s for the
end, and the client gives up after 20 s (a bound, not a speed check). With the wake-up off, the poll alone
still finishes every job.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store import Store
from tests.supervisor.harness import RunningDaemon, workflow

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
WAIT_S = 60  # the server answers at the job's end, or after this
CLIENT_TIMEOUT_S = 20  # far below the 30 s poll: an answer in time proves the wake-ups worked


def started(tmp: Path, **env: str) -> Iterator[RunningDaemon]:
    d = RunningDaemon(tmp, **env).start()
    try:
        d.wait_ready()
        yield d
    finally:
        d.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    yield from started(tmp_path_factory.mktemp("wakeup"), POLL_INTERVAL_S="30")


def runsync(d: RunningDaemon, color: int) -> dict[str, Any]:
    response = d.client.post(f"{d.url}/runsync", params={"wait": WAIT_S}, json={"workflow": workflow(color)},
                             timeout=CLIENT_TIMEOUT_S)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_runsync_gets_each_job_without_waiting_for_a_poll(daemon: RunningDaemon) -> None:
    for color in range(3):  # the executor is idle before each: only a wake-up brings it the job
        body = runsync(daemon, color)
        assert body["status"] == "completed", body
        assert body["result"]["images"][0]["data"]


def test_status_wait_gets_the_end_without_waiting_for_a_poll(daemon: RunningDaemon) -> None:
    job_id = daemon.submit(10)
    response = daemon.client.get(f"{daemon.url}/status/{job_id}", params={"wait": WAIT_S},
                                 timeout=CLIENT_TIMEOUT_S)
    assert response.json()["status"] == "completed", response.text


def test_after_a_truncating_checkpoint_jobs_still_wake_everyone(daemon: RunningDaemon) -> None:
    runsync(daemon, 20)
    store = Store(daemon.db_path)
    try:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    assert Path(f"{daemon.db_path}-wal").stat().st_size == 0
    for color in (21, 22):
        assert runsync(daemon, color)["status"] == "completed"


def test_without_the_wakeup_the_poll_still_finishes_every_job(tmp_path: Path) -> None:
    for d in started(tmp_path, POLL_INTERVAL_S="0.3", STORE_WAKEUP="false"):
        for color in (30, 31):
            assert runsync(d, color)["status"] == "completed"
        assert {r.get("process") for r in d.events("store_wakeup_off")} >= {"executor", "http"}
