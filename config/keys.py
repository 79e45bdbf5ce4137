"""Named API keys: the keys file (``API_KEYS_FILE``), the clients it names, and writing it safely.

A client is a name, a role (``user``: its own jobs; ``admin``: every job and /admin/*), the SHA-256 of its key
(never the key) and optional limits. TOML (the default) or JSON, chosen by the file's extension::

    [clients.render-farm]
    role = "user"
    key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    [clients.render-farm.limits]
    requests_per_second = 20
    max_pending = 100

``default`` (the client of ``API_KEY``) and ``admin`` (of ``ADMIN_API_KEY``) are reserved names. The file is
written only whole (a temporary file renamed over it, readable by the daemon's user only), under a lock, so a
reader never sees half of it and two ``keys`` commands never lose each other's change.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED = frozenset({"default", "admin"})
DEFAULT_CLIENT = "default"  # API_KEY's jobs, and jobs made before clients had names
ADMIN_CLIENT = "admin"  # ADMIN_API_KEY's
KEY_PREFIX = "cwk_"


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the file and what is wrong."""


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class KeyLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A client's limits; unset ones fall back to the operator's defaults (``KEY_DEFAULT_*``)."""

    requests_per_second: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    max_pending: Annotated[int, Meta(ge=0, le=100_000_000)] | None = None
    max_priority: Annotated[int, Meta(ge=-1_000_000, le=1_000_000)] | None = None
    max_request_mb: Annotated[float, Meta(gt=0, le=1_000_000)] | None = None


class Client(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    key_sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    role: Role = Role.USER
    limits: KeyLimits = KeyLimits()


class KeysFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    clients: dict[str, Client] = {}

    def by_hash(self) -> dict[str, tuple[str, Client]]:
        return {client.key_sha256: (name, client) for name, client in self.clients.items()}


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse(text: bytes, path: str) -> KeysFile:
    """The clients of a keys file's contents; KeysFileError names what is wrong."""
    try:
        raw = json.loads(text) if path.endswith(".json") else tomllib.loads(text.decode())
        keys = msgspec.convert(raw, KeysFile)
    except (ValueError, UnicodeDecodeError, msgspec.ValidationError) as exc:
        raise KeysFileError(f"{path}: {exc}") from None
    check(keys, path)
    return keys


def check(keys: KeysFile, path: str) -> None:
    """The rules of names and keys; KeysFileError names the client."""
    seen: set[str] = set()
    for name, client in keys.clients.items():
        if not NAME.fullmatch(name):
            raise KeysFileError(f"{path}: client name {name!r} must be 1-64 of A-Z a-z 0-9 _ . - "
                                "(starting with a letter or digit)")
        if name in RESERVED:
            raise KeysFileError(f"{path}: client name {name!r} is reserved (API_KEY is 'default', "
                                "ADMIN_API_KEY is 'admin')")
        if client.key_sha256 in seen:
            raise KeysFileError(f"{path}: client {name!r} has the same key as another client")
        seen.add(client.key_sha256)


def read(path: str) -> KeysFile:
    """The file's clients; a missing file has none."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return KeysFile()
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse(text, path)


def dump(keys: KeysFile, path: str) -> bytes:
    if path.endswith(".json"):
        return msgspec.json.format(msgspec.json.encode(keys), indent=2) + b"\n"
    lines = ["# comfyui-worker API clients: `comfyui-worker keys add|list|revoke` edits this file", ""]
    for name, client in sorted(keys.clients.items()):
        lines += [f"[clients.{json.dumps(name)}]", f"role = {json.dumps(str(client.role))}",
                  f"key_sha256 = {json.dumps(client.key_sha256)}"]
        limits = msgspec.to_builtins(client.limits)
        if limits:
            lines.append(f"[clients.{json.dumps(name)}.limits]")
            lines += [f"{field} = {value!r}" for field, value in limits.items()]
        lines.append("")
    return "\n".join(lines).encode()


@contextmanager
def editing(path: str) -> Iterator[list[KeysFile]]:
    """Read the file under an exclusive lock; whatever the caller puts in ``box[0]`` is written back whole."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        box = [read(path)]
        before = box[0]
        yield box
        if box[0] != before:
            write(path, box[0])
    finally:
        os.close(lock_fd)


def write(path: str, keys: KeysFile) -> None:
    """Replace the file at once: a temporary file (0600) written, synced and renamed over it."""
    temporary = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, dump(keys, path))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
