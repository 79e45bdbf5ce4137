"""A finished prompt's outputs: read from history, fetched with GET /view, removed from disk once stored.

Any list of ``{filename, subfolder, type}`` is a file (images, gifs, videos, audio, latents, ... traces 06
and 07); ``text`` items are kept as text. ``type: temp`` files (PreviewImage) are skipped unless asked for.
A file whose name has control characters (a ``filename_prefix`` with CR/LF) is never asked for: ComfyUI's
``GET /view`` puts the name in a response header, which its server refuses to send, and drops the connection.
"""

from __future__ import annotations

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
                  include_temp: bool) -> Collected:
    refs, texts = output_refs(outputs)
    files, missing, unservable = [], [], []
    for ref in refs:
        if ref.type == "temp" and not include_temp:
            continue
        if not servable(ref):
            unservable.append(ref)
            continue
        view = await client.view(ref.filename, ref.subfolder, ref.type)
        if view is None:
            missing.append(ref)
        else:
            files.append(Fetched(ref=ref, data=view.data, content_type=view.content_type))
    return Collected(files=files, texts=texts, missing=missing, unservable=unservable)


def remove_local(output_dir: str | None, refs: list[OutputRef]) -> int:
    """Delete outputs from ComfyUI's local output folder (COMFYUI_OUTPUT_DIR); returns how many."""
    if not output_dir:
        return 0
    root, removed = os.path.realpath(output_dir), 0
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
