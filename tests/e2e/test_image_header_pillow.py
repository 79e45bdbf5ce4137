"""Opt-in (COMFYUI_PYTHON, the interpreter with ComfyUI's Pillow): the sizes and frame counts the transport reads
from image headers are the ones Pillow -- what ComfyUI's LoadImage decodes with -- reports for real files."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from store.image_header import image_size
from tests.image_bytes import gif, jpeg, png, webp_vp8, webp_vp8l
from transports.images import image_format

PYTHON = os.environ.get("COMFYUI_PYTHON")
pytestmark = pytest.mark.skipif(not PYTHON, reason="set COMFYUI_PYTHON to an interpreter with ComfyUI's Pillow")

# Pillow writes the files: each format's common encodings, animated ones included
MAKE = r"""
import base64, io, json
from PIL import Image
def frames(n, size, mode="RGB"):
    return [Image.new(mode, size, (i * 40 % 256, 90, 200) if mode == "RGB" else (i * 40 % 256, 90, 200, 128))
            for i in range(n)]
def save(images, fmt, **kw):
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=len(images) > 1, append_images=images[1:], **kw)
    return out.getvalue()
files = {
    "png": save(frames(1, (640, 480)), "PNG"),
    "png-rgba": save(frames(1, (33, 17), "RGBA"), "PNG"),
    "apng": save(frames(6, (40, 30)), "PNG"),
    "apng-default-image-apart": save(frames(4, (40, 30)), "PNG", default_image=True),
    "jpeg": save(frames(1, (1023, 767)), "JPEG"),
    "jpeg-progressive": save(frames(1, (300, 200)), "JPEG", progressive=True),
    "gif": save(frames(1, (320, 200)), "GIF"),
    "gif-animated": save(frames(12, (64, 48)), "GIF", duration=40),
    "webp-lossy": save(frames(1, (1920, 1080)), "WEBP"),
    "webp-lossless": save(frames(1, (257, 129)), "WEBP", lossless=True),
    "webp-alpha": save(frames(1, (200, 100), "RGBA"), "WEBP"),
    "webp-animated": save(frames(5, (96, 64)), "WEBP", duration=40),
}
def measure(data):
    with Image.open(io.BytesIO(data)) as im:
        return [im.size[0], im.size[1], getattr(im, "n_frames", 1)]
extra = json.loads(input())
result = {name: [base64.b64encode(data).decode(), measure(data)] for name, data in files.items()}
result.update({name: [text, measure(base64.b64decode(text))] for name, text in extra.items()})
print(json.dumps(result))
"""

OURS = {  # files built byte by byte in the tests: Pillow must read them as the parser does
    "ours-png": png(64, 48), "ours-apng": png(16, 16, frames=3), "ours-jpeg": jpeg(7680, 4320),
    "ours-gif-frames": gif(32, 32, frames=9), "ours-gif-grown": gif(1, 1, frame_size=(500, 400)),
    "ours-webp-vp8": webp_vp8(1920, 1080), "ours-webp-vp8l": webp_vp8l(4000, 3),
}


def test_header_sizes_match_pillow() -> None:
    assert PYTHON
    extra = json.dumps({name: base64.b64encode(data).decode() for name, data in OURS.items()})
    proc = subprocess.run([PYTHON, "-c", MAKE], input=extra, capture_output=True, text=True, timeout=120,
                          check=True)
    files = json.loads(proc.stdout)
    assert len(files) == 12 + len(OURS)
    for name, (text, (width, height, frames)) in files.items():
        data = base64.b64decode(text)
        fmt = image_format(data)
        assert fmt is not None, name
        size = image_size(fmt, data)
        assert (size.width, size.height, size.frames) == (width, height, frames), name
