"""The size of an input image as its header states it, without decoding a pixel.

What ComfyUI's ``LoadImage`` will allocate is ``frames x width x height``: it loads every frame of an animated
image (GIF, APNG, animated WebP) into one batch. So the header tells both the canvas and the frame count:

- PNG: IHDR (must be the first chunk); ``acTL`` (and ``fcTL``) before IDAT give an APNG's frame count.
- JPEG: the first SOFn marker (one frame; ComfyUI loads only the first picture of an MPO).
- GIF: the logical screen, grown by any frame that reaches past it (Pillow grows the canvas so), and the
  image descriptors counted.
- WebP: the VP8 frame header, the VP8L header, or the VP8X canvas, and its ``ANMF`` chunks when animated.

A header that is too short or inconsistent raises :class:`BadHeader`: Pillow could not open it either (and
ComfyUI retries truncated images with ``LOAD_TRUNCATED_IMAGES``, so a short file is no safer than a whole one).
"""

from __future__ import annotations

import struct

import msgspec


class BadHeader(ValueError):
    """The image's header is truncated or corrupt."""


class ImageSize(msgspec.Struct, frozen=True):
    width: int
    height: int
    frames: int = 1

    @property
    def canvas(self) -> int:
        """Pixels of one frame."""
        return self.width * self.height

    @property
    def pixels(self) -> int:
        """Pixels of every frame: what LoadImage decodes."""
        return self.canvas * self.frames

    def describe(self) -> str:
        size = f"{self.width}x{self.height}"
        return size if self.frames == 1 else f"{self.frames} frames of {size}"


def _u16be(data: bytes, at: int) -> int:
    if at + 2 > len(data):
        raise BadHeader("truncated")
    return int.from_bytes(data[at:at + 2], "big")


def _u16le(data: bytes, at: int) -> int:
    if at + 2 > len(data):
        raise BadHeader("truncated")
    return int.from_bytes(data[at:at + 2], "little")


def _checked(width: int, height: int, frames: int = 1) -> ImageSize:
    if width <= 0 or height <= 0:
        raise BadHeader(f"its header states a size of {width}x{height}")
    return ImageSize(width=width, height=height, frames=max(frames, 1))


# --- PNG --------------------------------------------------------------------------------------------------

def _png(data: bytes) -> ImageSize:
    if data[8:16] != b"\x00\x00\x00\x0dIHDR" or len(data) < 33:
        raise BadHeader("no IHDR chunk after the PNG signature")
    width, height = struct.unpack(">II", data[16:24])
    return _checked(width, height, _apng_frames(data))


def _apng_frames(data: bytes) -> int:
    """An APNG's frames as Pillow counts them: ``acTL``'s count, plus the default image when no ``fcTL``
    comes before the first IDAT (it is then not part of the animation, but LoadImage decodes it too)."""
    at, animated, default_is_frame = 8, None, False
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"IDAT":
            return 1 if animated is None else animated + (0 if default_is_frame else 1)
        if kind == b"acTL":
            if at + 12 > len(data):
                break
            animated = int.from_bytes(data[at + 8:at + 12], "big")
        default_is_frame = default_is_frame or kind == b"fcTL"
        at += 12 + length
    raise BadHeader("truncated before its image data")


# --- JPEG -------------------------------------------------------------------------------------------------

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_NO_LENGTH = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> ImageSize:
    at = 2
    while at < len(data):
        if data[at] != 0xFF:
            raise BadHeader(f"no JPEG marker at byte {at}")
        while at < len(data) and data[at] == 0xFF:  # fill bytes
            at += 1
        if at >= len(data):
            break
        marker = data[at]
        if marker in _NO_LENGTH:
            at += 1
            continue
        if marker in (0xD9, 0xDA):
            raise BadHeader("no frame header (SOFn) before its scan data")
        if marker in _SOF:
            return _checked(_u16be(data, at + 6), _u16be(data, at + 4))
        at += 1 + _u16be(data, at + 1)
    raise BadHeader("truncated before its frame header (SOFn)")


# --- GIF --------------------------------------------------------------------------------------------------

def _skip_sub_blocks(data: bytes, at: int) -> int:
    while at < len(data):
        size = data[at]
        at += 1 + size
        if size == 0:
            return at
    return len(data)


def _gif(data: bytes, stop_above: int | None = None) -> ImageSize:
    if len(data) < 13:
        raise BadHeader("truncated before its logical screen descriptor")
    width, height, flags = _u16le(data, 6), _u16le(data, 8), data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while at < len(data):
        block = data[at]
        if block == 0x2C:  # image descriptor: Pillow grows the canvas to hold the frame
            if at + 10 > len(data):
                break
            left, top, w, h = struct.unpack("<4H", data[at + 1:at + 9])
            width, height, frames = max(width, left + w), max(height, top + h), frames + 1
            if stop_above is not None and frames * width * height > stop_above:
                break  # over any limit already: a GIF of a million 1-byte frames is not walked to its end
            local = data[at + 9]
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW minimum code size
            at = _skip_sub_blocks(data, at)
        elif block == 0x21:  # extension: label, then sub-blocks
            at = _skip_sub_blocks(data, at + 2)
        else:  # trailer (0x3B) or garbage: Pillow stops reading here too
            break
    return _checked(width, height, frames)


# --- WebP -------------------------------------------------------------------------------------------------

def _riff_chunks(data: bytes, at: int = 12) -> list[tuple[bytes, int, int]]:
    """(fourcc, payload start, payload length) of each RIFF chunk that fits in the data."""
    chunks = []
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        chunks.append((kind, at + 8, size))
        at += 8 + size + (size & 1)
    return chunks


def _webp(data: bytes) -> ImageSize:
    chunks = _riff_chunks(data)
    if not chunks:
        raise BadHeader("no chunk after the WebP header")
    kind, at, size = chunks[0]
    payload = data[at:at + size]
    if kind == b"VP8 " and len(payload) >= 10 and payload[3:6] == b"\x9d\x01\x2a":
        return _checked(_u16le(payload, 6) & 0x3FFF, _u16le(payload, 8) & 0x3FFF)
    if kind == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        bits = int.from_bytes(payload[1:5], "little")
        return _checked((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8X" and len(payload) >= 10:
        width = int.from_bytes(payload[4:7], "little") + 1
        height = int.from_bytes(payload[7:10], "little") + 1
        frames = sum(1 for c in chunks if c[0] == b"ANMF") if payload[0] & 0x02 else 1
        return _checked(width, height, frames)
    raise BadHeader(f"its first chunk ({kind!r}) is not a VP8, VP8L or VP8X header")


_READERS = {"png": _png, "jpeg": _jpeg, "webp": _webp}


def image_size(fmt: str, data: bytes, *, stop_above: int | None = None) -> ImageSize:
    """The size the header of an image of this format (``png``, ``jpeg``, ``gif``, ``webp``) states.

    ``stop_above``: a GIF's frames are counted only until they hold more pixels than this (then a lower bound)."""
    return _gif(data, stop_above) if fmt == "gif" else _READERS[fmt](data)
