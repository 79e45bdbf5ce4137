"""``comfyui-worker backup PATH``: an online copy of SQLITE_DB_PATH while the daemon runs; one JSON line."""

from __future__ import annotations

import argparse

from config.logging import configure, get_logger
from config.settings import Settings
from store.backup import backup
from store.errors import StoreError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH",
                        help="file to write (replaced atomically), or a folder for <name>-<UTC time>.db")


def main(settings: Settings, args: argparse.Namespace) -> int:
    configure("backup", settings.comfy_log_level)
    log = get_logger()
    try:
        result = backup(settings.sqlite_db_path, args.path, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    except StoreError as exc:
        log.error("store_backup_failed", database_path=settings.sqlite_db_path, path=args.path,
                  error=str(exc))
        return 1
    log.info("store_backed_up", database_path=settings.sqlite_db_path, path=result.path, pages=result.pages,
             bytes=result.bytes, seconds=result.seconds)
    return 0
