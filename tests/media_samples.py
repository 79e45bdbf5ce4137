"""The first bytes of each kind of input file the daemon takes (and some it must not), for the content checks."""

from __future__ import annotations

import struct


def wav(samples: int = 800) -> bytes:
    """A real PCM WAV: 8 kHz mono 16-bit silence."""
    data = b"\x00\x00" * samples
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)
    return b"RIFF" + struct.pack("<I", 4 + len(fmt) + 8 + len(data)) + b"WAVE" + fmt + b"data" + \
        struct.pack("<I", len(data)) + data


MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free" + b"\x00" * 64
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm" + \
    b"\x42\x87\x81\x04\x42\x85\x81\x02" + b"\x00" * 64
MKV = WEBM.replace(b"\x42\x82\x84webm", b"\x42\x82\x88matroska")
MP3_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 400
MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 400  # MPEG-1 layer III, 128 kb/s, 44.1 kHz
FLAC = b"fLaC\x00\x00\x00\x22" + b"\x00" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 64
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64  # ftyp, but an image we don't take
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom" + b"\x00" * 64  # ftyp, but audio we don't take
ADTS_AAC = b"\xff\xf1\x50\x80" + b"\x00" * 64  # MPEG sync, but layer 0: AAC, not MP3
AVI = b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64
