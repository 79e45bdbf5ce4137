"""What an input file of a job is, from its bytes alone, and whether it is within the operator's limits.

One implementation for both places that take input files: the transports (base64 in the request, ``400`` at
submit) and the executor (bytes fetched from a URL or a bucket, ``invalid_input``). Recognised by magic bytes,
never by name:

- images (LoadImage, LoadImageMask): PNG, JPEG, WebP, GIF; their header must be readable and within
  MAX_IMAGE_PIXELS per frame, all frames of all images of a job within MAX_REQUEST_PIXELS.
- video (LoadVideo's ``file``): MP4 (an ``ftyp`` box of an MP4 brand: not HEIC, AVIF or M4A), WebM (EBML with
  DocType ``webm``); a GIF is an image (its pixels are checked) that LoadVideo reads too. At most MAX_VIDEO_MB.
- audio (LoadAudio's ``audio``): WAV (RIFF/WAVE), MP3 (an ID3 tag, or an MPEG-1/2 layer III frame header),
  FLAC, Ogg. At most MAX_AUDIO_MB.

A name's extension must agree with the content: :func:`upload_name` gives a video or audio file the
extension of what it is (ComfyUI lists input files by extension). Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import msgspec

from store.image_header import BadHeader, ImageSize, image_size

MB = 1024 * 1024


class Kind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class Media(msgspec.Struct, frozen=True):
    kind: Kind
    format: str  # png, jpeg, gif, webp, mp4, webm, wav, mp3, flac, ogg
    extension: str  # without the dot
    content_type: str


class MediaRefused(ValueError):
    """Bytes that are no input file we take, or over a limit; ``str()`` names the file, ``details`` too."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


_IMAGES: tuple[tuple[str, bytes, int], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n", 0),
    ("jpeg", b"\xff\xd8\xff", 0),
    ("gif", b"GIF87a", 0),
    ("gif", b"GIF89a", 0),
    ("webp", b"WEBP", 8),
)
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
                         b"M4V ", b"dash", b"mmp4", b"msnv"})
_MEDIA = {
    "png": Media(Kind.IMAGE, "png", "png", "image/png"),
    "jpeg": Media(Kind.IMAGE, "jpeg", "jpg", "image/jpeg"),
    "gif": Media(Kind.IMAGE, "gif", "gif", "image/gif"),
    "webp": Media(Kind.IMAGE, "webp", "webp", "image/webp"),
    "mp4": Media(Kind.VIDEO, "mp4", "mp4", "video/mp4"),
    "webm": Media(Kind.VIDEO, "webm", "webm", "video/webm"),
    "wav": Media(Kind.AUDIO, "wav", "wav", "audio/wav"),
    "mp3": Media(Kind.AUDIO, "mp3", "mp3", "audio/mpeg"),
    "flac": Media(Kind.AUDIO, "flac", "flac", "audio/flac"),
    "ogg": Media(Kind.AUDIO, "ogg", "ogg", "audio/ogg"),
}
# other spellings of the same format's extension, kept as the client gave them
_ALIASES = {"jpeg": {"jpg", "jpeg", "jpe", "jfif"}, "mp4": {"mp4", "m4v"}, "ogg": {"ogg", "oga", "opus"}}
KNOWN = "a PNG, JPEG, WebP or GIF image, an MP4 or WebM video, or WAV, MP3, FLAC or Ogg audio"


def image_format(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif`` or ``webp`` from the first bytes; None for anything else."""
    for fmt, magic, offset in _IMAGES:
        if data[offset:offset + len(magic)] == magic and (fmt != "webp" or data[:4] == b"RIFF"):
            return fmt
    return None


def _is_mp3_frame(data: bytes) -> bool:
    """An MPEG audio frame header: sync, a version that exists, layer III, a bitrate and a sample rate."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _is_webm(data: bytes) -> bool:
    """EBML, whose header names the DocType ``webm`` (a Matroska ``.mkv`` says ``matroska``)."""
    return data[:4] == b"\x1a\x45\xdf\xa3" and b"\x42\x82\x84webm" in data[4:64]


def media_format(data: bytes) -> str | None:
    """The format of an input file from its first bytes, one of ``_MEDIA``; None when not one we take."""
    fmt = image_format(data)
    if fmt is not None:
        return fmt
    if data[4:8] == b"ftyp" and data[8:12] in _MP4_BRANDS:
        return "mp4"
    if _is_webm(data):
        return "webm"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or _is_mp3_frame(data):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    return None


def recognise(data: bytes) -> Media | None:
    fmt = media_format(data)
    return _MEDIA[fmt] if fmt is not None else None


def upload_name(name: str, media: Media) -> str:
    """The name to store a file under: a video or audio file's extension says what it is (replaced when it
    says something else, added when missing); an image keeps its name (LoadImage reads it by content)."""
    if media.kind is Kind.IMAGE:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.lower() in _ALIASES.get(media.format, {media.extension}):
        return name
    return f"{stem if dot and stem else name}.{media.extension}"


class Checked(msgspec.Struct, frozen=True):
    name: str
    media: Media
    size: ImageSize | None  # an image's header size


class MediaLimits(msgspec.Struct, frozen=True, kw_only=True):
    """MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS, MAX_VIDEO_MB and MAX_AUDIO_MB, in pixels and bytes."""

    max_image_pixels: int
    max_request_pixels: int
    max_video_bytes: int
    max_audio_bytes: int

    @classmethod
    def from_settings(cls, settings: Any) -> MediaLimits:
        return cls(max_image_pixels=settings.max_image_pixels, max_request_pixels=settings.max_request_pixels,
                   max_video_bytes=int(settings.max_video_mb * MB),
                   max_audio_bytes=int(settings.max_audio_mb * MB))

    def check(self, name: str, data: bytes) -> Checked:
        """What the file is; MediaRefused when it is none we take, unreadable or over a limit of its kind."""
        media = recognise(data)
        if media is None:
            raise MediaRefused(f"input {name!r} is not {KNOWN}", image=name)
        if media.kind is Kind.IMAGE:
            return Checked(name, media, self._image_size(name, media.format, data))
        limit, setting = ((self.max_video_bytes, "MAX_VIDEO_MB") if media.kind is Kind.VIDEO
                          else (self.max_audio_bytes, "MAX_AUDIO_MB"))
        if len(data) > limit:
            raise MediaRefused(f"{media.kind} {name!r} is {len(data):,} bytes, more than the {limit:,} allowed "
                               f"({setting})", image=name, size=len(data), limit=limit)
        return Checked(name, media, None)

    def _image_size(self, name: str, fmt: str, data: bytes) -> ImageSize:
        try:
            size = image_size(fmt, data, stop_above=self.max_request_pixels)
        except BadHeader as exc:
            raise MediaRefused(f"image {name!r} is not a readable {fmt.upper()}: {exc}", image=name) from None
        if size.canvas > self.max_image_pixels:
            raise MediaRefused(
                f"image {name!r} is {size.width}x{size.height} ({size.canvas:,} pixels), more than the "
                f"{self.max_image_pixels:,} pixels allowed per image (MAX_IMAGE_PIXELS)",
                image=name, width=size.width, height=size.height, max_image_pixels=self.max_image_pixels)
        return size

    def check_all(self, files: Iterable[tuple[str, bytes]]) -> list[Checked]:
        """Each file alone, then every frame of every image together within MAX_REQUEST_PIXELS."""
        checked = [self.check(name, data) for name, data in files]
        images = [(c.name, c.size) for c in checked if c.size is not None]
        total = sum(size.pixels for _, size in images)
        if total > self.max_request_pixels:
            name, size = max(images, key=lambda item: item[1].pixels)
            raise MediaRefused(
                f"the request's images hold at least {total:,} pixels, more than the {self.max_request_pixels:,} "
                f"allowed per request (MAX_REQUEST_PIXELS); the largest is {name!r} "
                f"({size.describe()}, {size.pixels:,} pixels)",
                image=name, pixels=total, max_request_pixels=self.max_request_pixels)
        names = [upload_name(c.name, c.media) for c in checked]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise MediaRefused(f"input {checked[i].name!r} would be stored as {name!r}, the name of another "
                                   f"input (its extension follows its content)", image=checked[i].name)
        return checked
