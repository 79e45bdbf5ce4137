"""A job's input files: checked, uploaded into a folder of their own, and referenced from the workflow.

Each job uploads into ``jobs/<job id>/`` of ComfyUI's input folder (``POST /upload/image`` with ``subfolder``,
trace 38; ComfyUI stores any file type there), so two jobs with an input of the same name never collide;
LoadImage then reads ``jobs/<job id>/<name>``. The content is checked by ``store/media.py``, as the transport
did at submit; a video or audio file is stored under the extension of what it is (``upload_name``).
"""

from __future__ import annotations

import copy
import os
import shutil
import unicodedata
from collections.abc import Iterable
from typing import Any

from executor.comfy_client import ComfyClient
from executor.errors import InvalidInput
from store import InputImage
from store.media import KNOWN, MediaLimits, MediaRefused, recognise, upload_name


def check_name(name: str) -> None:
    """A name POST /upload/image stores: no path, no control characters, at most 255 bytes (NAME_MAX) as sent
    (a ``"`` travels as ``%22``), no `` [output]``-style suffix (LoadImage would look in another folder)."""
    if not name or name in {".", ".."} or ".." in name or "/" in name or "\\" in name:
        raise InvalidInput(f"unsafe input image name {name!r}", name=name)
    if len(name.encode("utf-8", "surrogatepass")) + 2 * name.count('"') > 255:
        raise InvalidInput(f"input image name {name[:40]!r}... is longer than 255 bytes", name=name)
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise InvalidInput(f"input image name {name!r} has control characters", name=name)
    if name.endswith((" [input]", " [output]", " [temp]")):
        raise InvalidInput(f"input image name {name!r} ends like a ComfyUI folder annotation", name=name)


def check_inputs(images: Iterable[InputImage], limits: MediaLimits | None) -> dict[str, str]:
    """Raise InvalidInput for an unsafe or duplicate name, or bytes that are no input file we take (before
    uploading); returns each input's name -> the name to upload it under. With ``limits`` (a job with fetched
    inputs) every input is checked against them too, all together (MAX_REQUEST_PIXELS); without, the transport
    did so at submit and a corrupt header is left for ComfyUI to report."""
    seen: set[str] = set()
    for image in images:
        check_name(image.name)
        if image.name in seen:
            raise InvalidInput(f"input image name {image.name!r} given twice", name=image.name)
        seen.add(image.name)
    try:
        if limits is not None:
            return {c.name: upload_name(c.name, c.media) for c in limits.check_all((i.name, i.data) for i in images)}
    except MediaRefused as exc:
        raise InvalidInput(exc.message, **exc.details) from None
    names = {}
    for image in images:
        media = recognise(image.data)
        if media is None:
            raise InvalidInput(f"input {image.name!r} is not {KNOWN}", name=image.name)
        names[image.name] = upload_name(image.name, media)
    return names


def job_subfolder(job_id: str) -> str:
    return f"jobs/{job_id}"


async def upload_inputs(client: ComfyClient, job_id: str, images: list[InputImage],
                        limits: MediaLimits | None = None) -> dict[str, str]:
    """Upload every input into the job's subfolder; returns original name -> name the workflow must use."""
    names = check_inputs(images, limits)
    return {image.name: await client.upload_image(image.data, names[image.name], job_subfolder(job_id))
            for image in images}


def rewrite_workflow(workflow: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """A copy of the workflow where every input value naming an uploaded image names its uploaded path."""
    if not renames:
        return workflow
    out = copy.deepcopy(workflow)
    for node in out.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for key, value in inputs.items():
            if isinstance(value, str) and value in renames:
                inputs[key] = renames[value]
    return out


def remove_inputs(input_dir: str | None, job_id: str) -> None:
    """Delete the job's uploaded inputs when ComfyUI's input folder is local (COMFYUI_INPUT_DIR)."""
    if input_dir:
        shutil.rmtree(os.path.join(input_dir, job_subfolder(job_id)), ignore_errors=True)
