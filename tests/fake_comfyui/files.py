"""POST /upload/image and GET /view, transcribed from ComfyUI 0.3.64's server.py (traces 38, 39)."""

from __future__ import annotations

import hashlib
import mimetypes
import os

from aiohttp import web

from . import images as fmt
from .nodes import Dirs

_FORCE_DOWNLOAD = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}


def _same_bytes(path: str, data: bytes) -> bool:
    with open(path, "rb") as existing:
        return hashlib.sha256(existing.read()).digest() == hashlib.sha256(data).digest()


async def upload_image(request: web.Request, dirs: Dirs) -> web.Response:
    post = await request.post()
    image = post.get("image")
    overwrite = post.get("overwrite")
    upload_type = str(post.get("type", "input"))
    type_dir = dirs.by_type(upload_type)
    if type_dir is None:  # ComfyUI dies with UnboundLocalError here: a 500
        raise ValueError(f"unknown upload type {upload_type!r}")
    upload_dir = str(type_dir)
    if not isinstance(image, web.FileField) or not image.filename:
        return web.Response(status=400)
    subfolder = str(post.get("subfolder", ""))
    folder = os.path.join(upload_dir, os.path.normpath(subfolder))
    filename = image.filename
    filepath = os.path.abspath(os.path.join(folder, filename))
    if os.path.commonpath((upload_dir, filepath)) != upload_dir:
        return web.Response(status=400)
    os.makedirs(folder, exist_ok=True)
    data = image.file.read()
    duplicate = False
    if overwrite not in ("true", "1"):
        stem, ext = os.path.splitext(filename)
        counter = 1
        while os.path.exists(filepath):
            if _same_bytes(filepath, data):
                duplicate = True
                break
            filename = f"{stem} ({counter}){ext}"
            filepath = os.path.join(folder, filename)
            counter += 1
    if not duplicate:
        with open(filepath, "wb") as out:
            out.write(data)
    return web.json_response({"name": filename, "subfolder": subfolder, "type": upload_type})


def _split_annotation(name: str, dirs: Dirs) -> tuple[str, str | None]:
    for tag, base in ((" [output]", dirs.output), (" [input]", dirs.input), (" [temp]", dirs.temp)):
        if name.endswith(tag):
            return name[: -len(tag)], str(base)
    return name, None


def _converted(path: str, query: dict) -> tuple[bytes, str] | None:
    """`channel=rgb` and `preview=webp` need the pixels; only PNGs written by/for the fake decode here."""
    if "preview" not in query and query.get("channel", "rgba") != "rgb":
        return None
    try:
        with open(path, "rb") as source:
            frame, _ = fmt.decode_png(source.read())
    except Exception:
        return None
    if "preview" in query and query["preview"].split(";")[0] == "webp":
        return fmt.encode_webp_placeholder([frame]), "image/webp"
    return fmt.encode_png(frame), "image/png"


async def view(request: web.Request, dirs: Dirs) -> web.StreamResponse:
    query = request.rel_url.query
    if "filename" not in query:
        return web.Response(status=404)
    filename, base = _split_annotation(query["filename"], dirs)
    if not filename:
        return web.Response(status=400)
    if filename[0] == "/" or ".." in filename:
        return web.Response(status=400)
    if base is None:
        kind_dir = dirs.by_type(query.get("type", "output"))
        if kind_dir is None:
            return web.Response(status=400)
        base = str(kind_dir)
    if "subfolder" in query:
        full = os.path.join(base, query["subfolder"])
        if os.path.commonpath((os.path.abspath(full), base)) != base:
            return web.Response(status=403)
        base = full
    filename = os.path.basename(filename)
    path = os.path.join(base, filename)
    if not os.path.isfile(path):
        return web.Response(status=404)
    disposition = {"Content-Disposition": f'filename="{filename}"'}
    converted = _converted(path, dict(query))
    if converted is not None:
        return web.Response(body=converted[0], headers={**disposition, "Content-Type": converted[1]})
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if content_type in _FORCE_DOWNLOAD:
        content_type = "application/octet-stream"
    return web.FileResponse(path, headers={**disposition, "Content-Type": content_type})
