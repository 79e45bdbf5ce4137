"""Who is calling: the key a request presents -> a :class:`Caller` (a client's name, role and limits).

Keys: ``ADMIN_API_KEY`` (client ``admin``), ``API_KEY`` (client ``default``: an admin while ``ADMIN_API_KEY`` is
unset, as before named keys existed) and the named keys of ``API_KEYS_FILE``, found by their SHA-256. The file is
looked at again at most every ``RECHECK_S`` (a ``stat``): a key added or revoked counts within a second, no
restart. A file that became unreadable or invalid keeps the clients it last had (logged), so a typo never
locks every client out; the file must be valid at start-up.
"""

from __future__ import annotations

import hmac
import os
import time
from dataclasses import dataclass

from config import keys as keyfile
from config.keys import KeyLimits, KeysFile, Role
from config.logging import get_logger
from config.settings import Settings
from store.clients import DEFAULT_OWNER

RECHECK_S = 0.25


@dataclass(frozen=True)
class Caller:
    name: str
    admin: bool
    limits: KeyLimits
    keyed: bool = True  # False: no key was presented (an open route or an open API)

    @property
    def owner(self) -> str | None:
        """Whose jobs this caller sees: None (every job) for an admin."""
        return None if self.admin else self.name


def _with_defaults(limits: KeyLimits, settings: Settings) -> KeyLimits:
    return KeyLimits(
        requests_per_second=limits.requests_per_second or settings.key_default_requests_per_second,
        max_pending=limits.max_pending if limits.max_pending is not None else settings.key_default_max_pending,
        max_priority=limits.max_priority if limits.max_priority is not None else settings.key_default_max_priority,
        max_request_mb=limits.max_request_mb or settings.key_default_max_request_mb,
    )


class KeyRing:
    """The keys the daemon accepts now. Raises KeysFileError at construction for a bad file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.api_keys_file
        self.api_key = settings.api_key or None
        self.admin_api_key = settings.admin_api_key or None
        self.required = bool(self.api_key or self.path)  # every route but the public ones needs a key
        self.any_keys = bool(self.api_key or self.admin_api_key or self.path)
        self._by_hash: dict[str, Caller] = {}
        self._seen: tuple[int, int, int] | None = None
        self._checked = 0.0
        if self.path:
            self._load(keyfile.read(self.path), self._stat())

    def anonymous(self) -> Caller:
        """The caller without a key where no key is needed: the open API's single client."""
        return Caller(DEFAULT_OWNER, admin=not self.admin_api_key, limits=KeyLimits(), keyed=False)

    def caller(self, key: str) -> Caller | None:
        """The client a presented key belongs to, or None for a key nobody has."""
        if self.admin_api_key and _matches(key, self.admin_api_key):
            return Caller(keyfile.ADMIN_CLIENT, admin=True, limits=KeyLimits())
        if self.api_key and _matches(key, self.api_key):
            return Caller(DEFAULT_OWNER, admin=not self.admin_api_key, limits=KeyLimits())
        if self.path:
            self._refresh()
            return self._by_hash.get(keyfile.key_hash(key))
        return None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path or "")
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RECHECK_S:
            return
        self._checked = now
        seen = self._stat()
        if seen == self._seen:
            return
        try:
            keys = keyfile.read(self.path or "")
        except keyfile.KeysFileError as exc:
            get_logger().error("keys_file_invalid", detail=str(exc), keeping=len(self._by_hash))
            self._seen = seen  # look again when it changes again
            return
        self._load(keys, seen)
        get_logger().info("keys_file_loaded", path=self.path, clients=len(keys.clients))

    def _load(self, keys: KeysFile, seen: tuple[int, int, int] | None) -> None:
        self._by_hash = {
            client.key_sha256: Caller(name, admin=client.role is Role.ADMIN,
                                      limits=_with_defaults(client.limits, self.settings))
            for name, client in keys.clients.items()
        }
        self._seen = seen


def _matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
