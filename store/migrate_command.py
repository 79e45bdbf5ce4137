"""``comfyui-worker migrate``: create or upgrade the database, print one JSON line, exit 0."""

from __future__ import annotations

import argparse

from config.logging import configure, get_logger
from config.settings import Settings
from store.connection import connect, migrate


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("migrate", settings.comfy_log_level)
    conn = connect(settings.sqlite_db_path, synchronous=settings.sqlite_synchronous,
                   busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    before, after = migrate(conn)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]  # type: ignore[index]
    conn.close()
    get_logger().info("store_migrated", database_path=settings.sqlite_db_path, from_version=before,
                      to_version=after, journal_mode=mode)
    return 0
