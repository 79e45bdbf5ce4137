"""Pixel data and the file formats the fake writes, in pure Python (no Pillow).

An IMAGE is a list of `Frame`s (ComfyUI's batch dimension), a MASK a list of single-channel frames.
PNG is written and read for real; the video/animated-WebP containers are placeholders with the right
magic bytes (enough for content-type sniffing and byte-for-byte round trips, not for decoding).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UnidentifiedImageError(OSError):
    """Stand-in for PIL.UnidentifiedImageError so `execution_error.exception_type` matches trace 23."""


UnidentifiedImageError.__module__ = "PIL"


@dataclass(frozen=True, repr=False)
class Frame:
    width: int
    height: int
    data: bytes  # row-major, `channels` bytes per pixel
    channels: int = 3

    @classmethod
    def solid(cls, width: int, height: int, pixel: bytes) -> Frame:
        return cls(width, height, pixel * (width * height), len(pixel))

    def __repr__(self) -> str:  # what a tensor's str() says in execution_error.current_inputs, not pixels
        return f"tensor(shape=[1, {self.height}, {self.width}, {self.channels}])"

    def inverted(self) -> Frame:
        return Frame(self.width, self.height, self.data.translate(_INVERT), self.channels)

    def as_rgb(self) -> Frame:
        if self.channels == 3:
            return self
        return Frame(self.width, self.height, bytes(b for v in self.data for b in (v, v, v)), 3)

    def resized(self, width: int, height: int) -> Frame:
        """Nearest-neighbour resize (every ComfyUI upscale_method maps to this)."""
        c = self.channels
        xs = [min(self.width - 1, x * self.width // width) * c for x in range(width)]
        rows = []
        for y in range(height):
            src_y = min(self.height - 1, y * self.height // height)
            row = self.data[src_y * self.width * c : (src_y + 1) * self.width * c]
            rows.append(b"".join(row[x : x + c] for x in xs))
        return Frame(width, height, b"".join(rows), c)

    def cropped(self, left: int, top: int, width: int, height: int) -> Frame:
        c = self.channels
        rows = (
            self.data[(y * self.width + left) * c : (y * self.width + left + width) * c]
            for y in range(top, top + height)
        )
        return Frame(width, height, b"".join(rows), c)


_INVERT = bytes(255 - i for i in range(256))


def rgb_from_int(color: int) -> bytes:
    return bytes(((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF))


# --- PNG -------------------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _idat(frame: Frame, compress_level: int) -> bytes:
    stride = frame.width * frame.channels
    raw = b"".join(b"\x00" + frame.data[y * stride : (y + 1) * stride] for y in range(frame.height))
    return zlib.compress(raw, compress_level)


def _ihdr(frame: Frame) -> bytes:
    color_type = 2 if frame.channels == 3 else 0
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", frame.width, frame.height, 8, color_type, 0, 0, 0))


def _text_chunks(text: dict[str, str]) -> bytes:
    return b"".join(_chunk(b"tEXt", k.encode("latin-1") + b"\x00" + v.encode("latin-1", "replace"))
                    for k, v in text.items())


def encode_png(frame: Frame, text: dict[str, str] | None = None, compress_level: int = 4) -> bytes:
    return (PNG_SIGNATURE + _ihdr(frame) + _text_chunks(text or {})
            + _chunk(b"IDAT", _idat(frame, compress_level)) + _chunk(b"IEND", b""))


def encode_apng(frames: list[Frame], fps: float, compress_level: int = 4) -> bytes:
    """A real animated PNG (acTL/fcTL/fdAT), like SaveAnimatedPNG."""
    first = frames[0]
    parts = [PNG_SIGNATURE, _ihdr(first), _chunk(b"acTL", struct.pack(">II", len(frames), 0))]
    delay = (1000, max(1, round(fps * 1000)))
    seq = 0
    for index, frame in enumerate(frames):
        fctl = struct.pack(">IIIIIHHBB", seq, frame.width, frame.height, 0, 0, *delay, 0, 0)
        parts.append(_chunk(b"fcTL", fctl))
        seq += 1
        data = _idat(frame, compress_level)
        if index == 0:
            parts.append(_chunk(b"IDAT", data))
        else:
            parts.append(_chunk(b"fdAT", struct.pack(">I", seq) + data))
            seq += 1
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> bytes:
    stride = width * bpp
    out = bytearray()
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, up_left = prev[i], (prev[i - bpp] if i >= bpp else 0)
            predictor = (0, left, up, (left + up) // 2, _paeth(left, up, up_left))[kind]
            line[i] = (line[i] + predictor) & 0xFF
        out += line
        prev = line
    return bytes(out)


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _parse_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def decode_png(data: bytes) -> tuple[Frame, bytes | None]:
    """Decode an 8-bit non-interlaced PNG into (RGB frame, alpha bytes or None); ValueError otherwise."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks = _parse_chunks(data)
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or interlace or color_type not in _CHANNELS:
        raise ValueError("unsupported PNG flavour")
    channels = _CHANNELS[color_type]
    raw = zlib.decompress(b"".join(p for kind, p in chunks if kind == b"IDAT"))
    pixels = _unfilter(raw, width, height, channels)
    if color_type == 3:
        palette = next(p for kind, p in chunks if kind == b"PLTE")
        return Frame(width, height, b"".join(palette[i * 3 : i * 3 + 3] for i in pixels)), None
    if color_type in (0, 4):
        gray = pixels[::channels]
        alpha = pixels[1::2] if color_type == 4 else None
        return Frame(width, height, gray).as_rgb(), alpha
    rgb = pixels if channels == 3 else b"".join(pixels[i : i + 3] for i in range(0, len(pixels), 4))
    return Frame(width, height, rgb), (pixels[3::4] if channels == 4 else None)


# --- placeholder containers ------------------------------------------------------------------------


def encode_webp_placeholder(frames: list[Frame]) -> bytes:
    """RIFF/WEBP container with a VP8X header chunk (right magic, not decodable)."""
    first = frames[0]
    vp8x = struct.pack("<I", 0x02 if len(frames) > 1 else 0) + (first.width - 1).to_bytes(3, "little")
    vp8x += (first.height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def encode_webm_placeholder(frames: list[Frame]) -> bytes:
    """EBML header (Matroska magic 1A45DFA3, DocType webm) followed by the frame count."""
    doctype = b"\x42\x82\x84webm"
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(doctype)]) + doctype + struct.pack(">I", len(frames))


def encode_mp4_placeholder(frames: list[Frame]) -> bytes:
    """An ISO-BMFF `ftyp` box (magic ....ftyp) followed by an empty `mdat` box."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", 8) + b"mdat"


def encode_latent(shape: tuple[int, ...], metadata: dict[str, str]) -> bytes:
    """A real safetensors file holding a zero float32 `latent_tensor` (as SaveLatent writes)."""
    size = 4
    for dim in shape:
        size *= dim
    header = {
        "__metadata__": metadata,
        "latent_tensor": {"dtype": "F32", "shape": list(shape), "data_offsets": [0, size]},
        "latent_format_version_0": {"dtype": "F32", "shape": [0], "data_offsets": [size, size]},
    }
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + bytes(size)
