"""Input images of a job request: safe names, base64 (or data URI) decoding, and a magic-bytes check."""

from __future__ import annotations

import base64
import binascii

from transports.errors import InvalidRequest

_MAX_NAME = 255
# (prefix, offset) of the signatures of the image formats ComfyUI's LoadImage reads
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("jpeg", b"\xff\xd8\xff", 0),
    ("gif", b"GIF87a", 0),
    ("gif", b"GIF89a", 0),
    ("webp", b"WEBP", 8),
)


def check_name(name: str) -> str:
    """An image name is a plain file name: not empty, no path separators, no ``..``, no control characters."""
    if not name or name.strip() != name:
        raise InvalidRequest(f"image name {name!r} is empty or has surrounding spaces", image=name)
    if "/" in name or "\\" in name or ".." in name:
        raise InvalidRequest(f"image name {name!r} must be a plain file name (no '/', '\\' or '..')",
                             image=name)
    if len(name) > _MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidRequest(f"image name {name!r} is too long or has control characters", image=name)
    return name


def image_format(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif`` or ``webp`` from the first bytes; None for anything else."""
    for fmt, magic, offset in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic and (fmt != "webp" or data[:4] == b"RIFF"):
            return fmt
    return None


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    cleaned = "".join(text.split())  # line-wrapped base64
    cleaned += "=" * (-len(cleaned) % 4)  # missing padding
    return base64.b64decode(cleaned, validate=True)


def decode_image(name: str, text: str) -> bytes:
    """The bytes of a base64 or ``data:image/...;base64,`` string; raises InvalidRequest naming the image."""
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequest(f"image {name!r}: a data URI must be 'data:<type>;base64,<data>'",
                                 image=name)
    try:
        data = _b64decode(text)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"image {name!r} is not valid base64", image=name) from None
    if image_format(data) is None:
        raise InvalidRequest(f"image {name!r} is not a PNG, JPEG, WebP or GIF image", image=name)
    return data
