"""The store's wake-up: a commit by another connection (any process) calls back; nothing depends on it."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Progress, Store
from store.wakeup import StoreWakeup, Wake, WakeupUnavailable, folder_of, open_wakeup
from tests.http.conftest import WORKER, WORKFLOW

ROOT = Path(__file__).resolve().parents[2]


class Calls:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    async def next(self, timeout: float = 10.0) -> None:
        """Until the next call (bounded: a missing wake-up fails the test, it does not hang it)."""
        async with asyncio.timeout(timeout):
            await self.event.wait()
        self.event.clear()


class Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_kw: object) -> None:
        self.events.append(event)

    info = debug = warning


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "jobs.db")
    Store(path).close()
    return path


@pytest.fixture
def waiter(db: str) -> Iterator[Store]:
    """The waiting side's own connection."""
    store = Store(db)
    yield store
    store.close()


async def test_a_commit_by_another_process_calls_back(db: str, waiter: Store) -> None:
    calls = Calls()
    wakeup = StoreWakeup(waiter.poker, Wake.JOBS, calls, asyncio.get_running_loop())
    try:
        code = f"from store import Store; Store({db!r}).create_job({WORKFLOW!r})"
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], cwd=ROOT, check=True)
        await calls.next()
    finally:
        wakeup.close()


async def test_each_waiter_is_woken_by_the_writes_that_may_concern_it(db: str, waiter: Store) -> None:
    """A new job wakes the claim loops, a job's end the job watchers; a claim or a progress write nobody."""
    jobs, ends = Calls(), Calls()
    other = Store(db)
    watcher_side = Store(db)
    loop = asyncio.get_running_loop()
    wakeups = [StoreWakeup(waiter.poker, Wake.JOBS, jobs, loop), StoreWakeup(watcher_side.poker, Wake.ENDS, ends, loop)]
    try:
        job = other.create_job(WORKFLOW)
        await jobs.next()
        assert other.claim(WORKER) is not None
        other.record_progress(job.id, WORKER, Progress(value=1, max=2))
        other.heartbeat(WORKER, [job.id])
        await asyncio.sleep(0.1)
        assert (jobs.count, ends.count) == (1, 0)
        other.fail(job.id, WORKER, {"type": "execution", "message": "x"})
        await ends.next()
        second = other.create_job(WORKFLOW)
        await jobs.next()
        other.cancel(second.id)
        await ends.next()
        assert (jobs.count, ends.count) == (2, 2)
    finally:
        for wakeup in wakeups:
            wakeup.close()
        other.close()
        watcher_side.close()


async def test_the_waiters_own_connection_does_not_wake_it(waiter: Store) -> None:
    """Its commits do not move its data_version: it looks again itself (the executor, the service's notify)."""
    calls = Calls()
    wakeup = StoreWakeup(waiter.poker, Wake.JOBS, calls, asyncio.get_running_loop())
    try:
        waiter.create_job(WORKFLOW)
        await asyncio.sleep(0.1)
        assert calls.count == 0
    finally:
        wakeup.close()


async def test_after_a_truncating_checkpoint_a_commit_still_calls_back(db: str, waiter: Store) -> None:
    calls = Calls()
    other = Store(db)
    wakeup = StoreWakeup(waiter.poker, Wake.JOBS, calls, asyncio.get_running_loop())
    try:
        other.create_job(WORKFLOW)
        await calls.next()
        other.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert Path(f"{db}-wal").stat().st_size == 0
        other.create_job(WORKFLOW)
        await calls.next()
    finally:
        wakeup.close()
        other.close()


async def test_a_socket_left_by_a_dead_process_is_removed_and_harms_no_write(db: str, waiter: Store) -> None:
    folder = folder_of(db)
    calls = Calls()
    wakeup = StoreWakeup(waiter.poker, Wake.JOBS, calls, asyncio.get_running_loop())
    stale = os.path.join(folder, "999999-dead.jobs.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(stale)  # closed at once: like a process killed with -9
    other = Store(db)
    try:
        other.create_job(WORKFLOW)
        await calls.next()
        assert not os.path.exists(stale)
    finally:
        wakeup.close()
        other.close()
    assert os.listdir(folder) == []  # a closed wake-up takes its socket away


async def test_a_listener_bound_just_after_a_listing_is_still_found(db: str, waiter: Store) -> None:
    """A folder's mtime moves by clock ticks: a socket bound in the tick of the last listing is not missed."""
    other = Store(db)
    second_store = Store(db)
    first = StoreWakeup(waiter.poker, Wake.JOBS, Calls(), asyncio.get_running_loop())
    folder = folder_of(db)
    listed = os.stat(folder)
    other.create_job(WORKFLOW)  # lists the folder now
    calls = Calls()
    second = StoreWakeup(second_store.poker, Wake.JOBS, calls, asyncio.get_running_loop())
    os.utime(folder, ns=(listed.st_atime_ns, listed.st_mtime_ns))  # as if bound in the same clock tick
    try:
        other.create_job(WORKFLOW)
        await calls.next()
    finally:
        for wakeup in (first, second):
            wakeup.close()
        second_store.close()
        other.close()


async def test_a_folder_open_to_others_is_refused(db: str, waiter: Store) -> None:
    folder = folder_of(db)
    os.mkdir(folder)
    os.chmod(folder, 0o777)
    with pytest.raises(WakeupUnavailable, match="closed to others"):
        StoreWakeup(waiter.poker, Wake.ENDS, Calls(), asyncio.get_running_loop())
    os.chmod(folder, 0o700)
    StoreWakeup(waiter.poker, Wake.ENDS, Calls(), asyncio.get_running_loop()).close()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


async def test_a_socket_path_too_long_means_polling_and_says_so(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    store = Store(str(deep / "jobs.db"))
    log = Log()
    try:
        assert open_wakeup(store.poker, Wake.ENDS, Calls(), enabled=True, log=log) is None
        assert log.events == ["store_wakeup_unavailable"]
        store.create_job(WORKFLOW)  # writes go on
    finally:
        store.close()


async def test_switched_off_there_is_no_wakeup(waiter: Store) -> None:
    log = Log()
    assert open_wakeup(waiter.poker, Wake.JOBS, Calls(), enabled=False, log=log) is None
    assert log.events == ["store_wakeup_off"]
