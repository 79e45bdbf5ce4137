"""Inputs by reference: an ``images[]`` entry whose ``image`` is an ``http(s)://`` URL or ``s3://bucket/key``.

Checked at submit (the transport answers ``400`` naming the entry) and again by the executor before it fetches
(the settings may have changed in between). URLs follow the address policy of ``store/addresses.py``
(INPUT_URL_ALLOW_PRIVATE, INPUT_URL_ALLOWED_HOSTS); a bucket must be on INPUT_S3_BUCKETS (by default only
BUCKET_NAME, and only when BUCKET_ENDPOINT_URL is set), so a client never reads a bucket merely because the
daemon's credentials reach it. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec

from store.addresses import AddressPolicy, AddressRefused, check_url

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_KEY_BYTES = 1024


class InputRef(msgspec.Struct, frozen=True):
    """One entry of ``images[]`` given by reference: its position, its name and where it is."""

    index: int
    name: str
    url: str

    @property
    def entry(self) -> str:
        return f"images[{self.index}]"


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,15}://")


def is_reference(text: str) -> bool:
    """Whether an entry's ``image`` is a reference (``scheme://...``) rather than base64 (which never holds
    ``:``) or a data URI; a scheme other than http, https and s3 is then refused by ``InputSources.check``."""
    return _SCHEME.match(text) is not None


@dataclass(frozen=True)
class InputSources:
    """Where inputs may come from: the address policy for URLs, the buckets for ``s3://``."""

    addresses: AddressPolicy = field(default_factory=AddressPolicy)
    buckets: frozenset[str] = field(default=frozenset())

    @classmethod
    def from_settings(cls, settings: Any) -> InputSources:
        hosts = frozenset(h.strip().lower() for h in settings.input_url_allowed_hosts.split(",") if h.strip())
        buckets = frozenset(b.strip() for b in settings.input_s3_buckets.split(",") if b.strip())
        if not settings.input_s3_buckets.strip() and settings.bucket_endpoint_url:
            buckets = frozenset({settings.bucket_name})
        return cls(AddressPolicy(allow_private=settings.input_url_allow_private, allowed_hosts=hosts), buckets)

    def check(self, url: str) -> None:
        """AddressRefused (its message for the client) for a reference this daemon may not read."""
        if url[:5].lower() == "s3://":
            self.s3_location(url)
            return
        try:
            check_url(url, self.addresses)
        except AddressRefused as exc:
            if str(exc).startswith("scheme"):
                raise AddressRefused("scheme must be http, https or s3") from None
            raise

    def s3_location(self, url: str) -> tuple[str, str]:
        """(bucket, key) of an allowed ``s3://bucket/key``; AddressRefused otherwise."""
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
            raise AddressRefused("contains control characters")
        if url[:5] != "s3://":
            raise AddressRefused("scheme must be http, https or s3 (lower case s3://)")
        bucket, _, key = url[5:].partition("/")
        if not _BUCKET.match(bucket):
            raise AddressRefused(f"bucket {bucket[:70]!r} is not a valid bucket name")
        if not key or len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
            raise AddressRefused(f"must name an object: s3://bucket/key, the key 1 to {_MAX_KEY_BYTES} bytes")
        if bucket not in self.buckets:
            raise AddressRefused(f"bucket {bucket!r} is not on the operator's allow-list (INPUT_S3_BUCKETS)")
        return bucket, key


def shown(url: str) -> str:
    """A reference as logs and errors may show it: without its query (a presigned URL's signature) or
    fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"[:300]
