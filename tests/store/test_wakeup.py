"""The store's wake-up: a commit by another connection (any process) calls back, whatever became of the WAL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from store import Store
from store.wakeup import StoreWakeup, WakeupUnavailable, open_wakeup
from tests.http.conftest import WORKFLOW

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
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

    async def quiet(self) -> None:
        """Let the calls of earlier writes (and their settle call) pass, then forget them."""
        await asyncio.sleep(0.05)
        self.event.clear()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "jobs.db")
    Store(path).close()
    return path


async def test_a_commit_by_another_process_calls_back(db: str) -> None:
    calls = Calls()
    wakeup = StoreWakeup(db, calls, asyncio.get_running_loop())
    try:
        code = f"from store import Store; Store({db!r}).create_job({WORKFLOW!r})"
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], cwd=ROOT, check=True)
        await calls.next()
    finally:
        wakeup.close()


async def test_after_a_truncating_checkpoint_a_commit_still_calls_back(db: str) -> None:
    calls = Calls()
    writer = Store(db)
    wakeup = StoreWakeup(db, calls, asyncio.get_running_loop())
    try:
        writer.create_job(WORKFLOW)
        await calls.next()
        writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert Path(f"{db}-wal").stat().st_size == 0
        await calls.quiet()
        writer.create_job(WORKFLOW)
        await calls.next()
    finally:
        wakeup.close()
        writer.close()


async def test_a_wal_deleted_and_made_anew_is_watched_again(db: str) -> None:
    """The last connection to close deletes the WAL; the next writer makes a new file under the same name."""
    calls = Calls()
    wakeup = StoreWakeup(db, calls, asyncio.get_running_loop())
    try:
        writer = Store(db)
        writer.create_job(WORKFLOW)
        writer.close()
        assert not Path(f"{db}-wal").exists()
        await calls.quiet()
        writer = Store(db)
        writer.create_job(WORKFLOW)
        await calls.next()  # the new WAL's creation
        await calls.quiet()
        writer.create_job(WORKFLOW)
        await calls.next()  # a later commit: the new file is watched
        writer.close()
    finally:
        wakeup.close()


async def test_a_write_is_followed_by_a_settling_call(db: str) -> None:
    """A write's event may come before its commit shows in the -shm index: one more call follows the burst."""
    calls = Calls()
    writer = Store(db)
    wakeup = StoreWakeup(db, calls, asyncio.get_running_loop())
    try:
        writer.create_job(WORKFLOW)
        await calls.next()
        await calls.next()
        assert calls.count >= 2
    finally:
        wakeup.close()
        writer.close()


async def test_closed_it_calls_no_more(db: str) -> None:
    calls = Calls()
    writer = Store(db)
    wakeup = StoreWakeup(db, calls, asyncio.get_running_loop())
    wakeup.close()
    writer.create_job(WORKFLOW)
    await asyncio.sleep(0.1)
    assert calls.count == 0
    writer.close()


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **kw: object) -> None:
        self.events.append((event, kw))

    info = debug = warning


async def test_without_inotify_there_is_no_wakeup_and_it_says_so(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(WakeupUnavailable, match="Linux only"):
        StoreWakeup(db, lambda: None, asyncio.get_running_loop())
    log = Log()
    assert open_wakeup(db, lambda: None, enabled=True, log=log) is None
    assert [event for event, _ in log.events] == ["store_wakeup_unavailable"]


async def test_switched_off_there_is_no_wakeup(db: str) -> None:
    log = Log()
    assert open_wakeup(db, lambda: None, enabled=False, log=log) is None
    assert [event for event, _ in log.events] == ["store_wakeup_off"]
