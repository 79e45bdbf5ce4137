"""Image sizes read from headers (no pixel decoded): PNG/APNG, JPEG, GIF, WebP; truncated or corrupt is refused."""

from __future__ import annotations

import pytest

from store.image_header import BadHeader, ImageSize, image_size
from tests.image_bytes import gif, jpeg, png, webp_vp8, webp_vp8l, webp_vp8x


@pytest.mark.parametrize(("fmt", "data", "size"), [
    ("png", png(640, 480), ImageSize(640, 480)),
    ("png", png(64, 32, gray=True), ImageSize(64, 32)),
    ("png", png(16, 16, frames=300), ImageSize(16, 16, 301)),  # the default image, then 300 frames
    ("jpeg", jpeg(7680, 4320), ImageSize(7680, 4320)),
    ("jpeg", jpeg(1000, 10, sof=0xC2), ImageSize(1000, 10)),  # progressive
    ("gif", gif(320, 200), ImageSize(320, 200)),
    ("gif", gif(32, 32, frames=50), ImageSize(32, 32, 50)),
    ("gif", gif(1, 1, frame_size=(10_000, 10_000)), ImageSize(10_000, 10_000)),  # a frame grows the canvas
    ("webp", webp_vp8(1920, 1080), ImageSize(1920, 1080)),
    ("webp", webp_vp8l(16383, 2), ImageSize(16383, 2)),
    ("webp", webp_vp8x(10_000, 10_000), ImageSize(10_000, 10_000)),
    ("webp", webp_vp8x(100, 100, frames=7), ImageSize(100, 100, 7)),
])
def test_size_comes_from_the_header(fmt: str, data: bytes, size: ImageSize) -> None:
    assert image_size(fmt, data) == size


@pytest.mark.parametrize(("fmt", "data"), [
    ("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 24),  # no IHDR
    ("png", png(8, 8)[:20]),  # truncated inside IHDR
    ("png", png(8, 8)[:36]),  # truncated before IDAT
    ("png", png(8, 8)[:16] + b"\x00" * 8 + png(8, 8)[24:]),  # 0x0
    ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),  # truncated before SOFn
    ("jpeg", b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20),  # scan before any frame header
    ("jpeg", b"\xff\xd8" + b"garbage, no marker"),
    ("jpeg", jpeg(0, 100)),
    ("gif", b"GIF89a\x10\x00"),
    ("gif", gif(0, 0, frames=0)),
    ("webp", b"RIFF\x04\x00\x00\x00WEBP"),
    ("webp", webp_vp8(8, 8)[:24]),  # VP8 chunk without its frame header
    ("webp", b"RIFF\x0c\x00\x00\x00WEBPALPH\x00\x00\x00\x00"),
])
def test_a_truncated_or_corrupt_header_is_refused(fmt: str, data: bytes) -> None:
    with pytest.raises(BadHeader):
        image_size(fmt, data)


def test_a_ten_thousand_square_png_is_small_but_states_its_size() -> None:
    """The issue's image: 100 megapixels in a few hundred KB; only the header is read."""
    data = png(10_000, 10_000)
    assert len(data) < 400_000
    assert image_size("png", data).pixels == 100_000_000


def test_gif_frames_are_counted_only_until_a_limit_is_passed() -> None:
    """A GIF of many tiny frames is not walked to its end once it is over the limit anyway."""
    data = gif(10, 10, frames=1000)
    assert image_size("gif", data).frames == 1000
    stopped = image_size("gif", data, stop_above=5000)
    assert stopped.frames == 51 and stopped.pixels > 5000
