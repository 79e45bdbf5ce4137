"""S3 keys of outputs: a client's prefix checked, the operator's template (OUTPUT_KEY_TEMPLATE) filled in, the
key checked. Shared by the transports (a request's ``output.s3.prefix``, at submit) and the executor (each key,
at upload): a prefix comes from a client and is hostile until checked.

A key is ``/``-separated segments: never a leading ``/``, never an empty, ``.`` or ``..`` segment, no control
characters, at most ``MAX_KEY_BYTES`` bytes of UTF-8 (S3's own limit).
"""

from __future__ import annotations

import re

MAX_PREFIX = 256  # characters of a client's prefix
MAX_KEY_BYTES = 1024  # S3's limit on a key
# what a client's prefix may hold: S3's "safe characters" (letters, digits, ! - _ . * ' ( )) and /
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/-]*")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_FIELD = re.compile(r"\{(\w+)\}")
FIELDS = ("prefix", "job_id", "filename", "index", "node_id")


class BadKey(ValueError):
    """A prefix or key that is not a safe S3 key."""


def check_prefix(prefix: str) -> str:
    """The prefix without its trailing ``/``; BadKey when it may leave its place (``..``, a leading ``/``)."""
    if len(prefix) > MAX_PREFIX:
        raise BadKey(f"is longer than {MAX_PREFIX} characters")
    if not _PREFIX.fullmatch(prefix):
        raise BadKey("may hold only letters, digits, / and ! - _ . * ' ( )")
    if prefix.startswith("/"):
        raise BadKey("must not start with '/'")
    stripped = prefix.rstrip("/")
    if stripped:
        _check_segments(stripped)
    return stripped


def _check_segments(key: str) -> None:
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise BadKey(f"has an empty, '.' or '..' segment ({key!r})")


def render_key(template: str, *, prefix: str, job_id: str, filename: str, index: int, node_id: str) -> str:
    """The key of one output; an empty field (no prefix) leaves no empty segment. BadKey when the result is
    not a safe key (a file name ComfyUI wrote with control characters, a key too long)."""
    values = {"prefix": prefix, "job_id": job_id, "filename": filename, "index": str(index), "node_id": node_id}
    key = _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    key = "/".join(segment for segment in key.split("/") if segment)
    check_key(key)
    return key


def check_key(key: str) -> None:
    if not key:
        raise BadKey("is empty")
    if _CONTROL.search(key):
        raise BadKey(f"has control characters ({key!r})")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise BadKey(f"is longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise BadKey("starts with '/'")
    _check_segments(key)


def bucket_list(setting: str) -> frozenset[str]:
    """OUTPUT_S3_BUCKETS as a set of bucket names."""
    return frozenset(name.strip() for name in setting.split(",") if name.strip())


__all__ = ["FIELDS", "MAX_KEY_BYTES", "MAX_PREFIX", "BadKey", "bucket_list", "check_key", "check_prefix",
           "render_key"]
