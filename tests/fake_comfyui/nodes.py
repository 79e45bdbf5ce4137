"""The node classes the fake can execute, with ComfyUI's output naming and `ui` shapes.

Input/output declarations come from data/object_info.json (copied from the real server); this module
only supplies behaviour. Each `run(ctx, **inputs)` returns (outputs tuple, ui dict or None).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import images as fmt
from .images import Frame

NodeResult = tuple[tuple, dict | None]


@dataclass
class Dirs:
    input: Path
    output: Path
    temp: Path

    def by_type(self, kind: str) -> Path | None:
        return {"input": self.input, "output": self.output, "temp": self.temp}.get(kind)


@dataclass
class NodeContext:
    node_id: str
    prompt: dict
    extra_data: dict
    dirs: Dirs
    send_text: Callable[[str, str], None]  # (node_id, text): binary TEXT frame, broadcast


@dataclass(frozen=True, repr=False)
class Latent:
    shape: tuple[int, int, int, int]

    def __repr__(self) -> str:
        return f"{{'samples': tensor(shape={list(self.shape)})}}"


@dataclass(frozen=True, repr=False)
class Video:
    frames: list[Frame] = field(hash=False)
    fps: float

    def __repr__(self) -> str:
        return f"VideoFromComponents({len(self.frames)} frames @ {self.fps} fps)"


@dataclass(frozen=True, repr=False)
class VideoFile:
    """LoadVideo's VideoFromFile: the path only; nothing is decoded until a node asks for frames."""

    path: Path

    def __repr__(self) -> str:
        return f"<comfy_api.latest._input_impl.video_types.VideoFromFile object at 0x{id(self):x}>"


@dataclass(frozen=True, repr=False)
class Audio:
    """LoadAudio's {"waveform": tensor, "sample_rate": int}, as str() shows it."""

    sample_rate: int

    def __repr__(self) -> str:
        return f"{{'waveform': tensor([[[0., 0.]]]), 'sample_rate': {self.sample_rate}}}"


class InvalidDataError(ValueError):
    """av.error.InvalidDataError: what LoadAudio raises for a file av cannot demux."""


@dataclass(frozen=True, repr=False)
class UpscaleModel:
    name: str

    def __repr__(self) -> str:
        return f"ImageModelDescriptor({self.name})"


@dataclass(frozen=True)
class NodeImpl:
    run: Callable[..., NodeResult]
    validate: Callable[..., bool | str] | None = None  # VALIDATE_INPUTS(ctx-free, named inputs)
    is_changed: Callable[..., Any] | None = None  # IS_CHANGED(dirs, **inputs)
    steps: Callable[..., int] | None = None  # natural `progress` ticks, from the resolved inputs


# --- paths ----------------------------------------------------------------------------------------


def annotated_filepath(name: str, dirs: Dirs) -> Path:
    """'x.png [output]' -> output/x.png; plain names are relative to the input directory."""
    for tag, base in ((" [output]", dirs.output), (" [input]", dirs.input), (" [temp]", dirs.temp)):
        if name.endswith(tag):
            return base / name[: -len(tag)]
    return dirs.input / name


def save_path(prefix: str, base: Path, width: int = 0, height: int = 0) -> tuple[Path, str, int, str]:
    """ComfyUI's get_save_image_path: (folder, file stem, next counter, subfolder)."""
    prefix = prefix.replace("%width%", str(width)).replace("%height%", str(height))
    normalized = os.path.normpath(prefix)
    subfolder, stem = os.path.dirname(normalized), os.path.basename(normalized)
    folder = base / subfolder
    if os.path.commonpath((str(base), os.path.abspath(folder))) != str(base):
        raise Exception("**** ERROR: Saving image outside the output folder is not allowed.")
    folder.mkdir(parents=True, exist_ok=True)
    counters = [0]
    for name in os.listdir(folder):
        head, rest = name[: len(stem) + 1], name[len(stem) + 1 :]
        if head == stem + "_":
            digits = rest.split("_")[0]
            counters.append(int(digits) if digits.isdigit() else 0)
    return folder, stem, max(counters) + 1, subfolder


def _metadata(ctx: NodeContext) -> dict[str, str]:
    meta = {"prompt": json.dumps(ctx.prompt)}
    for key, value in (ctx.extra_data.get("extra_pnginfo") or {}).items():
        meta[key] = json.dumps(value)
    return meta


def _write_files(prefix: str, base: Path, kind: str, ext: str,
                 payloads: list[bytes], frame: Frame | None = None) -> list[dict]:
    folder, stem, counter, subfolder = save_path(prefix, base, frame.width if frame else 0,
                                                 frame.height if frame else 0)
    results = []
    for batch_number, payload in enumerate(payloads):
        name = f"{stem.replace('%batch_num%', str(batch_number))}_{counter + batch_number:05}_.{ext}"
        (folder / name).write_bytes(payload)
        results.append({"filename": name, "subfolder": subfolder, "type": kind})
    return results


def _temp_prefix() -> str:
    return "ComfyUI_temp_" + "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))


# --- image sources and transforms -----------------------------------------------------------------


def empty_image(ctx: NodeContext, width: int, height: int, batch_size: int, color: int) -> NodeResult:
    return ([Frame.solid(width, height, fmt.rgb_from_int(color))] * batch_size,), None


def image_invert(ctx: NodeContext, image: list[Frame]) -> NodeResult:
    return ([f.inverted() for f in image],), None


def _scale(frame: Frame, width: int, height: int, crop: str) -> Frame:
    if width == 0 and height == 0:
        return frame
    width = width or max(1, round(frame.width * height / frame.height))
    height = height or max(1, round(frame.height * width / frame.width))
    if crop == "center":
        old_aspect, new_aspect = frame.width / frame.height, width / height
        crop_w = round(frame.height * new_aspect) if old_aspect > new_aspect else frame.width
        crop_h = round(frame.width / new_aspect) if old_aspect < new_aspect else frame.height
        frame = frame.cropped((frame.width - crop_w) // 2, (frame.height - crop_h) // 2, crop_w, crop_h)
    return frame.resized(width, height)


def image_scale(ctx: NodeContext, image: list[Frame], upscale_method: str, width: int, height: int,
                crop: str) -> NodeResult:
    return ([_scale(f, width, height, crop) for f in image],), None


def image_blur(ctx: NodeContext, image: list[Frame], blur_radius: int, sigma: float) -> NodeResult:
    return (image,), None


def upscale_model_loader(ctx: NodeContext, model_name: str) -> NodeResult:
    return (UpscaleModel(model_name),), None


def image_upscale_with_model(ctx: NodeContext, upscale_model: UpscaleModel, image: list[Frame]) -> NodeResult:
    return (image,), None


def upscale_steps(upscale_model: UpscaleModel, image: list[Frame]) -> int:
    """comfy.utils.get_tiled_scale_steps with 512px tiles, 32px overlap: 81 for 4096x4096 (trace 26)."""
    return sum(math.ceil(f.height / 480) * math.ceil(f.width / 480) for f in image)


def solid_mask(ctx: NodeContext, value: float, width: int, height: int) -> NodeResult:
    return ([Frame.solid(width, height, bytes([round(value * 255)]))],), None


def empty_latent_image(ctx: NodeContext, width: int, height: int, batch_size: int) -> NodeResult:
    return (Latent((batch_size, 4, height // 8, width // 8)),), None


def get_image_size(ctx: NodeContext, image: list[Frame]) -> NodeResult:
    width, height, batch = image[0].width, image[0].height, len(image)
    ctx.send_text(ctx.node_id, f"width: {width}, height: {height}\n batch size: {batch}")
    return (width, height, batch), None


def create_video(ctx: NodeContext, images: list[Frame], fps: float, audio: Any = None) -> NodeResult:
    return (Video(images, fps),), None


# --- LoadImage -------------------------------------------------------------------------------------

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"GIF8", b"BM")


def _read_image(path: Path) -> tuple[Frame, bytes | None]:
    data = path.read_bytes()
    try:
        return fmt.decode_png(data)
    except Exception as ex:  # any decoding failure means 'not an image' here
        if data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            return Frame.solid(64, 64, b"\x80\x80\x80"), None  # undecodable here, valid for ComfyUI
        raise fmt.UnidentifiedImageError(f"cannot identify image file {str(path)!r}") from ex


def load_image(ctx: NodeContext, image: str) -> NodeResult:
    frame, alpha = _read_image(annotated_filepath(image, ctx.dirs))
    if alpha is None:
        mask = Frame.solid(64, 64, b"\x00")
    else:
        mask = Frame(frame.width, frame.height, alpha.translate(bytes(255 - i for i in range(256))), 1)
    return ([frame], [mask]), None


def load_image_validate(dirs: Dirs, image: str) -> bool | str:
    return True if annotated_filepath(image, dirs).is_file() else f"Invalid image file: {image}"


def load_image_is_changed(dirs: Dirs, image: str) -> str:
    return hashlib.sha256(annotated_filepath(image, dirs).read_bytes()).hexdigest()


def load_video(ctx: NodeContext, file: str) -> NodeResult:
    return (VideoFile(annotated_filepath(file, ctx.dirs)),), None


def load_video_validate(dirs: Dirs, file: str) -> bool | str:
    return True if annotated_filepath(file, dirs).exists() else f"Invalid video file: {file}"


_AUDIO_MAGIC = (b"RIFF", b"ID3", b"\xff\xfb", b"\xff\xf3", b"fLaC", b"OggS", b"\x1a\x45\xdf\xa3")


def load_audio(ctx: NodeContext, audio: str) -> NodeResult:
    path = annotated_filepath(audio, ctx.dirs)
    data = path.read_bytes()
    if not (data.startswith(_AUDIO_MAGIC) or data[4:8] == b"ftyp"):
        raise InvalidDataError(f"[Errno 1094995529] Invalid data found when processing input: '{path}'")
    rate = int.from_bytes(data[24:28], "little") if data[8:12] == b"WAVE" else 44100
    return (Audio(rate),), None


def load_audio_is_changed(dirs: Dirs, audio: str) -> str:
    return hashlib.sha256(annotated_filepath(audio, dirs).read_bytes()).hexdigest()


def load_audio_validate(dirs: Dirs, audio: str) -> bool | str:
    return True if annotated_filepath(audio, dirs).exists() else f"Invalid audio file: {audio}"


# --- output nodes ----------------------------------------------------------------------------------


def save_image(ctx: NodeContext, images: list[Frame], filename_prefix: str = "ComfyUI") -> NodeResult:
    meta = _metadata(ctx)
    pngs = [fmt.encode_png(f.as_rgb(), meta, 4) for f in images]
    results = _write_files(filename_prefix, ctx.dirs.output, "output", "png", pngs, images[0])
    return (), {"images": results}


def preview_image(ctx: NodeContext, images: list[Frame]) -> NodeResult:
    pngs = [fmt.encode_png(f.as_rgb(), _metadata(ctx), 1) for f in images]
    return (), {"images": _write_files(_temp_prefix(), ctx.dirs.temp, "temp", "png", pngs, images[0])}


def mask_preview(ctx: NodeContext, mask: list[Frame]) -> NodeResult:
    return preview_image(ctx, [m.as_rgb() for m in mask])


def save_latent(ctx: NodeContext, samples: Latent, filename_prefix: str = "latents/ComfyUI") -> NodeResult:
    payload = fmt.encode_latent(samples.shape, _metadata(ctx))
    return (), {"latents": _write_files(filename_prefix, ctx.dirs.output, "output", "latent", [payload])}


def _animated(ctx: NodeContext, prefix: str, ext: str, payload: bytes, frames: list[Frame]) -> NodeResult:
    results = _write_files(prefix, ctx.dirs.output, "output", ext, [payload], frames[0])
    return (), {"images": results, "animated": [len(frames) != 1]}


def save_animated_webp(ctx: NodeContext, images: list[Frame], filename_prefix: str, fps: float,
                       lossless: bool, quality: int, method: str) -> NodeResult:
    return _animated(ctx, filename_prefix, "webp", fmt.encode_webp_placeholder(images), images)


def save_animated_png(ctx: NodeContext, images: list[Frame], filename_prefix: str, fps: float,
                      compress_level: int) -> NodeResult:
    frames = [f.as_rgb() for f in images]
    return _animated(ctx, filename_prefix, "png", fmt.encode_apng(frames, fps, compress_level), frames)


def save_webm(ctx: NodeContext, images: list[Frame], filename_prefix: str, codec: str, fps: float,
              crf: float) -> NodeResult:
    results = _write_files(filename_prefix, ctx.dirs.output, "output", "webm",
                           [fmt.encode_webm_placeholder(images)], images[0])
    return (), {"images": results, "animated": [True]}


def save_video(ctx: NodeContext, video: Video, filename_prefix: str, format: str, codec: str) -> NodeResult:
    payload = fmt.encode_mp4_placeholder(video.frames)
    results = _write_files(filename_prefix, ctx.dirs.output, "output", "mp4", [payload], video.frames[0])
    return (), {"images": results, "animated": [True]}


def preview_any(ctx: NodeContext, source: Any = None) -> NodeResult:
    if isinstance(source, str):
        value = source
    elif isinstance(source, int | float | bool):
        value = str(source)
    elif source is None:
        value = "None"
    else:
        try:
            value = json.dumps(source)
        except TypeError:
            value = str(source)
    return (), {"text": [value]}


NODES: dict[str, NodeImpl] = {
    "EmptyImage": NodeImpl(empty_image),
    "ImageInvert": NodeImpl(image_invert),
    "ImageScale": NodeImpl(image_scale),
    "ImageBlur": NodeImpl(image_blur),
    "UpscaleModelLoader": NodeImpl(upscale_model_loader),
    "ImageUpscaleWithModel": NodeImpl(image_upscale_with_model, steps=upscale_steps),
    "SolidMask": NodeImpl(solid_mask),
    "EmptyLatentImage": NodeImpl(empty_latent_image),
    "GetImageSize": NodeImpl(get_image_size),
    "CreateVideo": NodeImpl(create_video),
    "LoadImage": NodeImpl(load_image, validate=load_image_validate, is_changed=load_image_is_changed),
    "LoadVideo": NodeImpl(load_video, validate=load_video_validate,
                          is_changed=lambda dirs, file: annotated_filepath(file, dirs).stat().st_mtime),
    "LoadAudio": NodeImpl(load_audio, validate=load_audio_validate, is_changed=load_audio_is_changed),
    "SaveImage": NodeImpl(save_image),
    "PreviewImage": NodeImpl(preview_image),
    "MaskPreview": NodeImpl(mask_preview),
    "SaveLatent": NodeImpl(save_latent),
    "SaveAnimatedWEBP": NodeImpl(save_animated_webp),
    "SaveAnimatedPNG": NodeImpl(save_animated_png),
    "SaveWEBM": NodeImpl(save_webm),
    "SaveVideo": NodeImpl(save_video),
    "PreviewAny": NodeImpl(preview_any),
}
