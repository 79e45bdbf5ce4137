"""``comfyui-worker backup``: a consistent online copy while jobs are being written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import apsw
import pytest

from store import InputImage, Store
from store.backup import backup, integrity
from store.errors import StoreError
from tests.ship.conftest import Daemon
from tests.supervisor.harness import ROOT, workflow


def _copy_job_ids(path: str) -> set[str]:
    copy = Store(path, migrate_schema=False)
    try:
        assert integrity(copy.conn) == []
        return {job.id for job in copy.list_jobs(limit=100_000).jobs}
    finally:
        copy.close()


def test_copy_taken_under_concurrent_writes_is_sound_and_holds_every_committed_job(db_path: str,
                                                                                    tmp_path: Path) -> None:
    committed: list[str] = []
    stop = threading.Event()

    def write() -> None:
        store = Store(db_path)
        try:
            while not stop.is_set():
                job = store.create_job(workflow(len(committed)),
                                       images=[InputImage(name="in.png", data=os.urandom(20_000))])
                committed.append(job.id)
        finally:
            store.close()

    Store(db_path).close()
    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(committed) < 200:
            pass
        copies = []
        for i in range(3):
            before = set(committed)
            result = backup(db_path, str(tmp_path / f"copy{i}.db"))
            copies.append((before, result.path))
    finally:
        stop.set()
        writer.join()
    for before, path in copies:
        assert before <= _copy_job_ids(path)
        assert not os.path.exists(path + "-wal") and not os.path.exists(path + ".partial")
    assert len(_copy_job_ids(copies[-1][1])) > len(copies[0][0])


def test_a_folder_target_gets_a_timestamped_file(store: Store, tmp_path: Path) -> None:
    store.create_job(workflow(1))
    (tmp_path / "backups").mkdir()
    result = backup(store.path, str(tmp_path / "backups"))
    assert Path(result.path).parent == tmp_path / "backups" and result.path.endswith(".db")
    assert len(_copy_job_ids(result.path)) == 1


def test_a_missing_database_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        backup(str(tmp_path / "none.db"), str(tmp_path / "copy.db"))
    assert list(tmp_path.iterdir()) == []


def test_the_command_copies_a_running_daemons_store(daemon: Daemon, tmp_path: Path) -> None:
    ids = [daemon.submit(c) for c in range(40, 45)]
    daemon.wait_jobs(ids, {"completed"}, 30)
    env = {**os.environ, "SQLITE_DB_PATH": daemon.db_path}
    done = subprocess.run([sys.executable, "-m", "supervisor", "backup", str(tmp_path / "b.db")],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=60)
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["event"] == "store_backed_up" and line["path"] == str(tmp_path / "b.db")
    conn = apsw.Connection(str(tmp_path / "b.db"))
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    conn.close()
    assert set(ids) <= _copy_job_ids(str(tmp_path / "b.db"))
