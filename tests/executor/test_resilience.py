"""The socket is a hint, history is the truth: drops, lost completions, late history, crashes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from store import JobStatus, Store
from tests.executor.conftest import save_workflow, wait_status, wait_until
from tests.fake_comfyui.harness import FakeComfyUI

TESTS_DIR = Path(__file__).resolve().parents[1]
# Workaround: `python tests/fake_comfyui/main.py` puts tests/ FIRST on sys.path, where tests/http shadows the
# stdlib `http` (aiohttp then fails to import). Appending tests/ instead keeps the fake's CLI shape.
LAUNCH = ("import sys; sys.path.append(sys.argv[1]); del sys.argv[1]; sys.argv[0] = 'main.py'; "
          "from fake_comfyui.main import main; main()")


async def test_socket_drop_mid_job_reconnects_and_completes(store: Store, fake_comfyui: FakeComfyUI,
                                                            executor_factory) -> None:
    fake_comfyui.configure(delay_ms=600, progress_steps=20)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, websocket_reconnect_delay_s=0.05) as running:
        await wait_until(lambda: (p := store.get_job(job.id).progress) and p.value > 2, 5, "progress")
        assert fake_comfyui.drop_sockets() == 1
        done = await wait_status(store, job.id, timeout=5)
        assert running.executor.socket.connected.is_set()
        await wait_until(lambda: len(fake_comfyui.stats()["websockets"]) == 1, 2, "one socket again")
    assert done.status is JobStatus.COMPLETED and done.attempts == 1


async def test_completion_lost_in_the_gap_is_found_by_reconciling_after_reconnect(
        store: Store, fake_comfyui: FakeComfyUI, executor_factory) -> None:
    """Trace 33: frames sent while disconnected are lost; history still knows the prompt finished."""
    fake_comfyui.configure(delay_ms=300, progress_steps=10)
    job = store.create_job(save_workflow())
    # no silence reconcile for 30 s: only the reconnect can reveal the completion
    async with executor_factory(fake_comfyui, websocket_reconnect_delay_s=0.6, heartbeat_interval_s=30):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        fake_comfyui.drop_sockets()
        await wait_until(lambda: fake_comfyui.stats()["executed"] == 1, 5, "the prompt to finish in the gap")
        done = await wait_status(store, job.id, timeout=3)
    assert done.status is JobStatus.COMPLETED and store.get_outputs(job.id)


async def test_silence_is_reconciled_without_a_reconnect(store: Store, fake_comfyui: FakeComfyUI,
                                                         executor_factory) -> None:
    fake_comfyui.configure(delay_ms=300, progress_steps=10)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui, websocket_reconnect_delay_s=30, heartbeat_interval_s=0.2):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        fake_comfyui.drop_sockets()
        done = await wait_status(store, job.id, timeout=3)
    assert done.status is JobStatus.COMPLETED


async def test_late_history_write_still_yields_outputs(store: Store, fake_comfyui: FakeComfyUI,
                                                       executor_factory) -> None:
    """Trace 36: history is written after execution_success; the executor waits for `executing null`."""
    fake_comfyui.configure(history_delay_ms=300)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_comfyui):
        done = await wait_status(store, job.id)
    assert done.status is JobStatus.COMPLETED and len(done.result["images"]) == 1


async def test_comfyui_gone_for_good_fails_when_attempts_are_used(store: Store, fake_comfyui: FakeComfyUI,
                                                                  executor_factory) -> None:
    fake_comfyui.configure(delay_ms=5000, progress_steps=50)
    job = store.create_job(save_workflow(), max_attempts=1)
    async with executor_factory(fake_comfyui, websocket_reconnect_attempts=1,
                                websocket_reconnect_delay_s=0.05):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        fake_comfyui.crash()
        done = await wait_status(store, job.id, timeout=5)
    assert done.status is JobStatus.FAILED and done.error["type"] == "comfyui_unavailable"


# --- ComfyUI as a separate process, killed mid-job -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeProcess:
    def __init__(self, base: Path, port: int) -> None:
        self.base, self.port, self.proc = base, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, delay_ms: int) -> None:
        env = {**os.environ, "FAKE_COMFYUI_DELAY_MS": str(delay_ms), "FAKE_COMFYUI_PROGRESS_STEPS": "20"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(TESTS_DIR), "--listen", "127.0.0.1", "--port", str(self.port),
             "--input-directory", str(self.base / "in"), "--output-directory", str(self.base / "out"),
             "--temp-directory", str(self.base)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/system_stats", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the fake ComfyUI process did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture
def fake_process(tmp_path: Path) -> Iterator[FakeProcess]:
    process = FakeProcess(tmp_path / "comfy", _free_port())
    yield process
    process.stop()


async def test_comfyui_killed_mid_job_then_back_completes_the_job(store: Store, fake_process: FakeProcess,
                                                                  executor_factory) -> None:
    fake_process.start(delay_ms=3000)
    job = store.create_job(save_workflow())
    async with executor_factory(fake_process.url, websocket_reconnect_attempts=2,
                                websocket_reconnect_delay_s=0.05):
        stats = lambda: httpx.get(fake_process.url + "/_fake/stats").json()  # noqa: E731
        await wait_until(lambda: stats()["running"], 5, "the prompt to run")
        with pytest.raises(httpx.HTTPError):
            httpx.post(fake_process.url + "/_fake/crash", timeout=2)
        assert fake_process.proc is not None
        await asyncio.to_thread(fake_process.proc.wait, 5)
        await wait_until(lambda: store.get_job(job.id).status is JobStatus.PENDING, 5, "a requeue")
        await asyncio.to_thread(fake_process.start, 50)
        done = await wait_status(store, job.id, timeout=10)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.attempts == 2  # the crashed run counted


# --- the store briefly locked by another process ------------------------------------------------------------


async def _hold_write_lock(db_path: str, seconds: float) -> None:
    import apsw

    locker = apsw.Connection(db_path)
    locker.execute("BEGIN IMMEDIATE")
    await asyncio.sleep(seconds)
    locker.execute("ROLLBACK")
    locker.close()


async def _executor_with_short_busy_timeout(db_path: str, fake: FakeComfyUI, **overrides: object) -> tuple:
    from executor.loop import Executor
    from tests.executor.conftest import make_settings

    own = Store(db_path, busy_timeout_ms=20)
    executor = Executor(make_settings(db_path, **overrides), own, comfyui_url=fake.url, worker_id="w1",
                        client_id="test-locked")
    return executor, asyncio.create_task(executor.run()), own


async def test_heartbeats_survive_a_store_locked_for_a_while(store: Store, db_path: str,
                                                             fake_comfyui: FakeComfyUI) -> None:
    """A heartbeat that meets a locked database (busy timeout exceeded) must not end the heartbeats: without
    them the lease lapses (stale recovery steals the live job) and cancels never reach the job."""
    fake_comfyui.configure(delay_ms=8000, progress_steps=0)  # silent nodes: no progress writes meanwhile
    job = store.create_job(save_workflow())
    executor, task, own = await _executor_with_short_busy_timeout(db_path, fake_comfyui, heartbeat_interval_s=0.1,
                                                                  shutdown_grace_s=0.2)
    try:
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the prompt to run")
        await asyncio.sleep(0.3)  # the claim loop has seen the queue empty: it will not claim meanwhile
        await _hold_write_lock(db_path, 0.5)  # a few heartbeats fail
        before = store.get_job(job.id).heartbeat_at
        await wait_until(lambda: store.get_job(job.id).heartbeat_at != before, 2, "a heartbeat after the lock")
        store.cancel(job.id)  # reaches the executor through the heartbeat
        await wait_until(lambda: executor.active and executor.active[0].cancel_requested, 2, "the cancel")
    finally:
        executor.stop()
        await asyncio.wait_for(task, 10)
        own.close()


async def test_progress_write_meeting_a_locked_store_does_not_kill_the_websocket(
        store: Store, db_path: str, fake_comfyui: FakeComfyUI) -> None:
    """Progress is written as the socket's frames arrive; a locked database must cost a progress update, not
    the socket reader (no more frames: no progress, no prompt events, until the executor restarts)."""
    fake_comfyui.configure(delay_ms=4000, progress_steps=100)
    job = store.create_job(save_workflow())
    executor, task, own = await _executor_with_short_busy_timeout(db_path, fake_comfyui, shutdown_grace_s=0.2)
    try:
        await wait_until(lambda: (p := store.get_job(job.id).progress) and p.value > 2, 5, "progress")
        await _hold_write_lock(db_path, 0.5)
        before = store.get_job(job.id).progress
        await wait_until(lambda: store.get_job(job.id).progress != before, 2, "progress after the lock")
    finally:
        executor.stop()
        await asyncio.wait_for(task, 10)
        own.close()


async def test_a_claim_meeting_a_locked_store_is_retried_not_a_crash(store: Store, db_path: str,
                                                                     fake_comfyui: FakeComfyUI) -> None:
    """The claim loop polls the store: a database locked past the busy timeout defers the claim."""
    import apsw

    executor, task, own = await _executor_with_short_busy_timeout(db_path, fake_comfyui, shutdown_grace_s=0.2)
    try:
        await wait_until(lambda: executor.comfy_ok.is_set(), 5, "the executor to be ready")
        job = store.create_job(save_workflow("after-lock"))  # the executor sees news in the store ...
        locker = apsw.Connection(db_path)
        locker.execute("BEGIN IMMEDIATE")  # ... but cannot claim it (no await in between: it has not run)
        await asyncio.sleep(0.5)
        locker.execute("ROLLBACK")
        locker.close()
        done = await wait_status(store, job.id, timeout=10)
        assert done.status is JobStatus.COMPLETED and not task.done()
    finally:
        executor.stop()
        await asyncio.wait_for(task, 10)
        own.close()


async def test_heartbeat_renews_only_the_jobs_this_executor_runs(store: Store, fake_comfyui: FakeComfyUI,
                                                                 executor_factory) -> None:
    """A job left running under this worker id (a crashed predecessor whose recovery failed, or a run that
    could not write its end) must go stale so recovery requeues it; renewing it would keep it running for ever."""
    leftover = store.create_job(save_workflow("leftover"))
    assert store.claim("w1") is not None  # as if a crashed executor with the same worker id had claimed it
    stale_at = store.get_job(leftover.id).heartbeat_at
    fake_comfyui.configure(delay_ms=1500, progress_steps=10)
    live = store.create_job(save_workflow("live"))
    async with executor_factory(fake_comfyui, worker_id="w1", heartbeat_interval_s=0.1):
        await wait_until(lambda: fake_comfyui.stats()["running"], 5, "the live job to run")
        first_beat = store.get_job(live.id).heartbeat_at
        await wait_until(lambda: store.get_job(live.id).heartbeat_at != first_beat, 2, "the live job's heartbeat")
        await asyncio.sleep(0.3)
        assert store.get_job(leftover.id).heartbeat_at == stale_at
        assert [r.id for r in store.recover_stale(0.25)] == [leftover.id]
        assert (await wait_status(store, live.id)).status is JobStatus.COMPLETED
