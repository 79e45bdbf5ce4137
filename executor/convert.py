"""Image outputs in the format a job asked for (``output.format``, ``output.quality``), before they are stored
or uploaded: the bytes, the content type and the file name's extension follow.

Only still images are converted: an animated one (GIF, APNG, animated WebP: more than one frame), a non-image
output, or one Pillow cannot read (or larger than its decompression-bomb limit) is left as it is. Pillow is
imported only when a job asks for a format, so an executor that never converts never loads it.
"""

from __future__ import annotations

import io
import os
from typing import Any

import msgspec

from config.logging import get_logger
from executor.outputs import Collected, Fetched
from executor.protocol import OutputRef

CONTENT_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
EXTENSIONS = {"webp": ".webp", "jpeg": ".jpg", "png": ".png"}
PILLOW_FORMATS = {"webp": "WEBP", "jpeg": "JPEG", "png": "PNG"}


def convert_all(collected: Collected, fmt: str, quality: int | None) -> Collected:
    """Every still image of ``collected`` as ``fmt``; the rest unchanged. Blocking: run it in a thread."""
    files = [convert(fetched, fmt, quality) for fetched in collected.files]
    return Collected(files=files, texts=collected.texts, missing=collected.missing,
                     unservable=collected.unservable)


def convert(fetched: Fetched, fmt: str, quality: int | None) -> Fetched:
    if not fetched.content_type.startswith("image/"):
        return fetched
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(fetched.data)) as image:
            if getattr(image, "n_frames", 1) > 1:
                return fetched  # animated: left as it is
            data = _encode(image, fmt, quality)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        get_logger().warning("output_not_converted", filename=fetched.ref.filename, reason=str(exc)[:200])
        return fetched
    return Fetched(ref=_renamed(fetched.ref, fmt), data=data, content_type=CONTENT_TYPES[fmt])


def _encode(image: Any, fmt: str, quality: int | None) -> bytes:
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG has no alpha: dropped
    elif fmt == "webp" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
    options: dict[str, Any] = {} if quality is None or fmt == "png" else {"quality": quality}
    out = io.BytesIO()
    image.save(out, format=PILLOW_FORMATS[fmt], **options)
    return out.getvalue()


def _renamed(ref: OutputRef, fmt: str) -> OutputRef:
    stem, _ = os.path.splitext(ref.filename)
    return msgspec.structs.replace(ref, filename=stem + EXTENSIONS[fmt])


__all__ = ["convert", "convert_all"]
