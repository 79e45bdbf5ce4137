"""A finished prompt's outputs: named by history, fetched with GET /view, removed from disk once stored.

Any list of ``{filename, subfolder, type}`` is a file (images, gifs, videos, audio, latents, ... traces 06
and 07); ``text`` items are kept as text. ``type: temp`` files (PreviewImage) are skipped unless asked for.
A file whose name has control characters (a ``filename_prefix`` with CR/LF) is never asked for: ComfyUI's
``GET /view`` puts the name in a response header, which its server refuses to send, and drops the connection.

When ComfyUI's output folder is local (``COMFYUI_OUTPUT_DIR``: the supervisor started that ComfyUI, or the
operator says where it writes), a ``type: output`` file is read where ``/view`` would read it,
``<output>/<subfolder>/<filename>``, with the content type ``/view`` would give; anything else (a name
``/view`` treats specially, a path leaving the folder, a file not there) still goes through ``GET /view``.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
from typing import Any

import msgspec

from executor.comfy_client import ComfyClient
from executor.protocol import OutputRef, TextOutput, output_refs


class Fetched(msgspec.Struct, frozen=True):
    ref: OutputRef
    data: bytes
    content_type: str


# what aiohttp refuses in a header value (every C0 control but TAB, and DEL): /view cannot answer
_UNSERVABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class Collected(msgspec.Struct, frozen=True):
    files: list[Fetched]
    texts: list[TextOutput]
    missing: list[OutputRef]  # /view answered 404: a cached output whose file is gone (trace 43)
    unservable: list[OutputRef] = []  # a name /view cannot answer for (control characters)


def servable(ref: OutputRef) -> bool:
    return not (_UNSERVABLE.search(ref.filename) or _UNSERVABLE.search(ref.subfolder))


async def collect(client: ComfyClient, outputs: dict[str, dict[str, Any]], *,
                  include_temp: bool, output_dir: str | None = None) -> Collected:
    refs, texts = output_refs(outputs)
    files, missing, unservable = [], [], []
    for ref in refs:
        if ref.type == "temp" and not include_temp:
            continue
        if not servable(ref):
            unservable.append(ref)
            continue
        if (fetched := read_local(output_dir, ref)) is not None:
            files.append(fetched)
            continue
        view = await client.view(ref.filename, ref.subfolder, ref.type)
        if view is None:
            missing.append(ref)
        else:
            files.append(Fetched(ref=ref, data=view.data, content_type=view.content_type))
    return Collected(files=files, texts=texts, missing=missing, unservable=unservable)


@functools.lru_cache(maxsize=8)
def _root(output_dir: str) -> str:
    return os.path.realpath(output_dir)


def local_path(output_dir: str | None, ref: OutputRef) -> str | None:
    """The path of a ``type: output`` file in ComfyUI's local output folder, as ``GET /view`` finds it; None
    without a local folder, for a name /view reads elsewhere or refuses (a ``[output]``-style annotation, a
    path, ``..``), or for a path that leaves the folder (symlinks resolved)."""
    name = ref.filename
    if not output_dir or ref.type != "output" or not name or "/" in name or ".." in name:
        return None
    if name.endswith(("[output]", "[input]", "[temp]")):
        return None
    root = _root(output_dir)
    path = os.path.realpath(os.path.join(root, ref.subfolder, name))
    return path if path.startswith(root + os.sep) else None


def content_type(filename: str) -> str:
    """The type ``GET /view`` answers for a file (ComfyUI 0.3.64 registers .js and .webp itself), as
    ``ComfyClient.view`` reads it."""
    if filename.endswith(".js"):
        return "application/javascript"
    if filename.endswith(".webp"):
        return "image/webp"
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def read_local(output_dir: str | None, ref: OutputRef) -> Fetched | None:
    """The output read from ComfyUI's local folder; None when it must come from ``GET /view`` instead."""
    path = local_path(output_dir, ref)
    if path is None:
        return None
    if not os.path.isfile(path):  # not there (a cached output deleted since, trace 43), or not a file
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:  # gone meanwhile, unreadable: /view decides
        return None
    return Fetched(ref=ref, data=data, content_type=content_type(ref.filename))


def remove_local(output_dir: str | None, refs: list[OutputRef]) -> int:
    """Delete outputs from ComfyUI's local output folder (COMFYUI_OUTPUT_DIR); returns how many."""
    if not output_dir:
        return 0
    root, removed = _root(output_dir), 0
    for ref in refs:
        if ref.type != "output":
            continue
        path = os.path.realpath(os.path.join(root, ref.subfolder, ref.filename))
        if not path.startswith(root + os.sep):
            continue  # never outside the output folder
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed
