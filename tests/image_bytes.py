"""Image files built in the tests, byte by byte, to the formats' specifications: PNG (solid colour,
zlib-compressed, so 10,000 x 10,000 pixels take ~100 KB), APNG, JPEG, GIF and WebP headers."""

from __future__ import annotations

import functools
import struct
import zlib


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@functools.cache
def png(width: int = 8, height: int = 8, *, gray: bool = False, frames: int = 1) -> bytes:
    """A valid solid-colour PNG (8-bit RGB, or grayscale); ``frames`` > 1 adds an acTL chunk (APNG) and no
    fcTL, so Pillow (and LoadImage) see ``frames`` + 1 frames: the default image comes first."""
    channels = 1 if gray else 3
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0 if gray else 2, 0, 0, 0)
    row = b"\x00" + b"\x7f" * (width * channels)
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    actl = _chunk(b"acTL", struct.pack(">II", frames, 0)) if frames > 1 else b""  # default image + frames
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + actl + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def jpeg(width: int, height: int, *, sof: int = 0xC0) -> bytes:
    """SOI, an APP0 (JFIF) segment, a DQT-like filler segment, then SOFn: enough header to state the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    filler = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" * 65
    frame = bytes([0xFF, sof]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 8
    return b"\xff\xd8" + app0 + filler + frame + scan + b"\xff\xd9"


def gif(width: int, height: int, *, frames: int = 1, frame_size: tuple[int, int] | None = None) -> bytes:
    """A GIF89a with a 2-colour global table and ``frames`` image descriptors (of ``frame_size``)."""
    fw, fh = frame_size or (width, height)
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # graphic control extension
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, fw, fh, 0) + b"\x02\x02\x44\x01\x00"
    return out + b"\x3b"


def _riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WEBP" + b"".join(k + struct.pack("<I", len(p)) + p + b"\x00" * (len(p) & 1) for k, p in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8(width: int, height: int) -> bytes:
    return _riff((b"VP8 ", b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8))


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return _riff((b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 4))


def webp_vp8x(width: int, height: int, *, frames: int = 0) -> bytes:
    """An extended WebP canvas; ``frames`` > 0 marks it animated with that many ANMF chunks."""
    flags = 0x02 if frames else 0
    header = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = [(b"ANMF", b"\x00" * 16)] * frames if frames else [(b"VP8L", b"\x2f" + b"\x00" * 4)]
    return _riff((b"VP8X", header), *body)
