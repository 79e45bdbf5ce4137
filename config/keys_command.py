"""``comfyui-worker keys add|list|revoke``: the named API keys of ``API_KEYS_FILE``.

``add NAME [--admin] [limits]`` prints the new key once (only its SHA-256 is kept); ``list`` prints each client
(never a key); ``revoke NAME`` removes it. A running daemon sees each change within a second. Every change is
also written to the store's audit table (when ``SQLITE_DB_PATH`` holds a store).
"""

from __future__ import annotations

import argparse
import os
import sys

import msgspec

from config import keys as keyfile
from config.keys import Client, KeyLimits, Role
from config.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a client; prints its new key once")
    add.add_argument("name", help="the client's name (1-64 of A-Z a-z 0-9 _ . -)")
    add.add_argument("--admin", action="store_true", help="an admin: every job, and /admin/*")
    add.add_argument("--requests-per-second", type=int, metavar="N")
    add.add_argument("--max-pending", type=int, metavar="N")
    add.add_argument("--max-priority", type=int, metavar="N")
    add.add_argument("--max-request-mb", type=float, metavar="MB")
    actions.add_parser("list", help="list the clients (never their keys)")
    revoke = actions.add_parser("revoke", help="remove a client: its key stops working within a second")
    revoke.add_argument("name")


def main(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.api_keys_file
    if not path:
        print("comfyui-worker keys: set API_KEYS_FILE to the keys file (TOML, or JSON by its extension)",
              file=sys.stderr)
        return 2
    try:
        if args.action == "list":
            return _list(keyfile.read(path))
        with keyfile.editing(path) as box:
            done = _add(box, args) if args.action == "add" else _revoke(box, args.name)
    except (keyfile.KeysFileError, msgspec.ValidationError, OSError) as exc:
        print(f"comfyui-worker keys: {exc}", file=sys.stderr)
        return 2
    if done is None:
        return 1
    _audit(settings, f"keys.{args.action}", args.name)
    return 0


def _list(keys: keyfile.KeysFile) -> int:
    for name, client in sorted(keys.clients.items()):
        print(msgspec.json.encode({"name": name, "role": client.role, "limits": client.limits}).decode())
    return 0


def _add(box: list[keyfile.KeysFile], args: argparse.Namespace) -> str | None:
    keys = box[0]
    if args.name in keys.clients:
        print(f"comfyui-worker keys: client {args.name!r} exists: revoke it first to give it a new key",
              file=sys.stderr)
        return None
    limits = msgspec.convert({"requests_per_second": args.requests_per_second, "max_pending": args.max_pending,
                              "max_priority": args.max_priority, "max_request_mb": args.max_request_mb}, KeyLimits)
    key = keyfile.new_key()
    client = Client(key_sha256=keyfile.key_hash(key), role=Role.ADMIN if args.admin else Role.USER, limits=limits)
    updated = keyfile.KeysFile(clients={**keys.clients, args.name: client})
    keyfile.check(updated, "the new client")  # the name's rules, before anything is written
    box[0] = updated
    print(key)
    return key


def _revoke(box: list[keyfile.KeysFile], name: str) -> str | None:
    keys = box[0]
    if name not in keys.clients:
        print(f"comfyui-worker keys: no client {name!r}", file=sys.stderr)
        return None
    box[0] = keyfile.KeysFile(clients={n: c for n, c in keys.clients.items() if n != name})
    return name


def _audit(settings: Settings, action: str, name: str) -> None:
    """The change, in the store's audit table (made if it does not exist yet); a store that cannot be written
    does not undo the change: it is said on stderr."""
    from store import Store

    try:
        store = Store.from_settings(settings)
        try:
            store.audit(f"cli:{os.environ.get('USER', 'unknown')}", action, target=name)
        finally:
            store.close()
    except Exception as exc:  # an unwritable or missing folder, a full disk
        print(f"comfyui-worker keys: done, but not recorded in the audit table of "
              f"SQLITE_DB_PATH={settings.sqlite_db_path}: {type(exc).__name__}: {exc}", file=sys.stderr)
