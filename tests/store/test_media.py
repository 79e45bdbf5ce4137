"""Input files recognised by their content, never their name (issue 14 item 2), and the limits of each kind."""

from __future__ import annotations

import pytest

from store.media import Kind, MediaLimits, MediaRefused, media_format, recognise, upload_name
from tests import media_samples as m
from tests.image_bytes import gif, png

LIMITS = MediaLimits(max_image_pixels=64 * 64, max_request_pixels=2 * 64 * 64, max_video_bytes=1000,
                     max_audio_bytes=2000)


@pytest.mark.parametrize(("data", "fmt"), [
    (m.MP4, "mp4"), (m.WEBM, "webm"), (m.wav(), "wav"), (m.MP3_ID3, "mp3"), (m.MP3_FRAME, "mp3"),
    (m.FLAC, "flac"), (m.OGG, "ogg"), (png(), "png"), (gif(4, 4), "gif"),
])
def test_each_format_is_recognised_by_its_bytes(data: bytes, fmt: str) -> None:
    assert media_format(data) == fmt


@pytest.mark.parametrize("data", [m.HEIC, m.M4A, m.ADTS_AAC, m.AVI, m.MKV, b"", b"\x00\x00\x00\x18ftyp",
                                  b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"ID", b"\xff\xfb",
                                  b"\xff\xff\xff\xff" + b"\x00" * 8, b"RIFF\x00\x00\x00\x00WAV"])
def test_lookalikes_are_not_taken(data: bytes) -> None:
    """Same container, another content (HEIC, M4A, Matroska, AVI), an MPEG sync that is AAC, or truncated."""
    assert media_format(data) is None


@pytest.mark.parametrize(("name", "data", "stored"), [
    ("clip.mp4", m.MP4, "clip.mp4"), ("clip.M4V", m.MP4, "clip.M4V"),
    ("clip.mp4", m.WEBM, "clip.webm"),  # the extension says what the content is
    ("clip", m.WEBM, "clip.webm"), ("song.wav", m.MP3_FRAME, "song.mp3"), (".hidden", m.FLAC, ".hidden.flac"),
    ("voice.ogg", m.OGG, "voice.ogg"), ("track.mp4", m.wav(), "track.wav"),
    ("photo.mp4", png(), "photo.mp4"),  # an image keeps its name: LoadImage reads it by content
])
def test_upload_name_follows_the_content(name: str, data: bytes, stored: str) -> None:
    media = recognise(data)
    assert media is not None and upload_name(name, media) == stored


def test_video_and_audio_limits() -> None:
    assert LIMITS.check("a.mp4", m.MP4).media.kind is Kind.VIDEO
    with pytest.raises(MediaRefused, match="MAX_VIDEO_MB"):
        LIMITS.check("a.mp4", m.MP4 + b"\x00" * 1000)
    with pytest.raises(MediaRefused, match="MAX_AUDIO_MB"):
        LIMITS.check("a.wav", m.wav(1000))
    assert LIMITS.check("a.wav", m.wav(500)).media.kind is Kind.AUDIO


def test_a_gif_is_an_image_with_its_pixels_checked() -> None:
    """LoadVideo reads a GIF too, but its frames are pixels like any image's: MAX_REQUEST_PIXELS holds."""
    with pytest.raises(MediaRefused, match="MAX_REQUEST_PIXELS"):
        LIMITS.check_all([("anim.gif", gif(64, 64, frames=3))])


def test_text_named_like_a_video_is_refused() -> None:
    with pytest.raises(MediaRefused, match="is not a PNG"):
        LIMITS.check("clip.mp4", b"#EXTM3U\nhttp://169.254.169.254/\n")


def test_two_inputs_stored_under_one_name_are_refused() -> None:
    """``a.mp4`` holding WebM would be stored as ``a.webm``: the name of another input."""
    with pytest.raises(MediaRefused, match=r"a\.webm"):
        LIMITS.check_all([("a.webm", m.WEBM), ("a.mp4", m.WEBM)])
