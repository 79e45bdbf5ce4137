"""``comfyui-worker run`` for real: scheduled backups (BACKUP_DIR, BACKUP_INTERVAL_S, BACKUP_KEEP)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from store import Store
from tests.supervisor.harness import RunningDaemon

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


def health_backup(d: RunningDaemon) -> dict[str, Any] | None:
    try:
        return d.client.get(f"{d.url}/health").json().get("backup")  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return None


def backups(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith("jobs-") and p.suffix == ".db")


def test_backups_are_taken_checked_and_the_oldest_removed(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """Every interval a sound copy holding the accepted jobs; only BACKUP_KEEP kept; the last in /health."""
    folder = tmp_path / "backups"
    d = RunningDaemon(tmp_path, BACKUP_DIR=str(folder), BACKUP_INTERVAL_S="0.3", BACKUP_KEEP="2")
    daemons.append(d)
    d.start()
    d.wait_ready()
    job_id = d.submit(3)
    d.wait_jobs([job_id], {"completed"}, 20)
    before = len(d.events("backup_completed"))  # the next ones began after the job's end was committed
    d.wait_for(lambda: len(d.events("backup_completed")) >= max(before + 2, 4), 20, "more backups")
    assert all(r["removed"] for r in d.events("backup_completed")[2:])
    kept = backups(folder)
    assert len(kept) == 2
    newest = apsw.Connection(str(kept[-1]), flags=apsw.SQLITE_OPEN_READONLY)
    assert newest.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert newest.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchall() == [("completed",)]
    newest.close()
    health = d.client.get(f"{d.url}/health").json()
    backup = health["backup"]
    assert backup["completed"] >= 3 and backup["failed"] == 0 and backup["last_error"] is None
    assert Path(backup["last_path"]).parent == folder and backup["last_success_at"] > 0
    store = Store(d.db_path)
    try:
        assert store.operations()["backup_completed"].count >= backup["completed"]
    finally:
        store.close()


def test_a_failing_backup_is_reported_never_fatal(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """BACKUP_DIR under a regular file (unwritable): backup_failed logged and in /health; jobs still run."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    d = RunningDaemon(tmp_path, BACKUP_DIR=str(blocker / "backups"), BACKUP_INTERVAL_S="0.3")
    daemons.append(d)
    d.start()
    d.wait_ready()
    d.wait_for(lambda: len(d.events("backup_failed")) >= 2, 20, "two failed backups")
    health = d.client.get(f"{d.url}/health")
    assert health.status_code == 200
    backup = health.json()["backup"]
    assert backup["failed"] >= 2 and backup["completed"] == 0 and backup["last_success_at"] is None
    assert "NotADirectoryError" in backup["last_error"] or "FileExistsError" in backup["last_error"]
    job_id = d.submit(4)
    d.wait_jobs([job_id], {"completed"}, 20)
    assert d.proc is not None and d.proc.poll() is None


def test_a_backup_that_would_fill_the_disk_is_refused(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """On the store's disk a backup keeps MIN_FREE_DISK_MB free: refused and reported, no file left behind."""
    folder = tmp_path / "backups"
    d = RunningDaemon(tmp_path, BACKUP_DIR=str(folder), BACKUP_INTERVAL_S="0.3", MIN_FREE_DISK_MB="100000000")
    daemons.append(d)
    d.start()
    d.wait_for(lambda: len(d.events("backup_failed")) >= 2, 30, "two refused backups")
    assert "no room for a backup" in d.events("backup_failed")[0]["error"]
    assert list(folder.iterdir()) == []
    backup = d.wait_for(lambda: health_backup(d), 20, "/health")  # 503 for the disk's sake; says why
    assert backup["last_error"].startswith("OSError: no room for a backup")
    assert d.proc is not None and d.proc.poll() is None
