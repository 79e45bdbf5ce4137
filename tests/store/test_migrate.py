"""`comfyui-worker migrate` and schema versioning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apsw

from store.connection import connect, migrate, user_version
from store.queries import migrations, parse


def test_migrate_command_creates_a_wal_database_with_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "jobs.db"
    env = {**os.environ, "SQLITE_DB_PATH": str(db), "COMFY_LOG_LEVEL": "INFO"}
    proc = subprocess.run([sys.executable, "-m", "supervisor.cli", "migrate"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "store_migrated" and record["to_version"] == len(migrations())
    conn = apsw.Connection(str(db))
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "job_inputs", "job_outputs", "job_counts", "components"} <= tables


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "a.db"))
    first = migrate(conn)
    second = migrate(conn)
    assert first == (0, len(migrations())) and second == (len(migrations()),) * 2
    assert user_version(conn) == len(migrations())


def test_migration_versions_are_consecutive_from_one() -> None:
    assert [v for v, _ in migrations()] == list(range(1, len(migrations()) + 1))


def test_named_queries_parse_by_name() -> None:
    text = "-- name: one\nSELECT 1;\n\n-- name: two\n-- a comment\nSELECT 2;\n"
    assert parse(text) == {"one": "SELECT 1;", "two": "-- a comment\nSELECT 2;"}


def test_synchronous_full_is_an_option(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "b.db"), synchronous="FULL")
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
    assert connect(str(tmp_path / "c.db")).execute("PRAGMA synchronous").fetchone() == (1,)
