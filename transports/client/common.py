"""What the sync and async clients share: request bodies, error answers, output files, change detection."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import httpx

from transports.client.errors import ApiError
from transports.client.model import Output, Status

# input images: file paths, or name -> bytes (or name -> base64 text / data URI, passed on as given)
Images = Union[Iterable[str | os.PathLike[str]], Mapping[str, bytes | str], None]  # noqa: UP007

DEFAULT_URL = "http://127.0.0.1:8000"


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def image_entries(images: Images) -> list[dict[str, str]]:
    """``[{"name", "image"}]`` as POST /run takes them."""
    if not images:
        return []
    if isinstance(images, Mapping):
        pairs = list(images.items())
    else:
        pairs = [(Path(p).name, Path(p).read_bytes()) for p in images]
    return [{"name": name, "image": data if isinstance(data, str) else base64.b64encode(data).decode()}
            for name, data in pairs]


def job_body(workflow: Mapping[str, Any], images: Images = None, *, priority: int | None = None,
             timeout_s: float | None = None,
             extra_images: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The body of POST /run for a workflow, its input images and scheduling options."""
    body: dict[str, Any] = {"workflow": dict(workflow)}
    entries = [dict(e) for e in extra_images] + image_entries(images)
    if entries:
        body["images"] = entries
    if priority is not None:
        body["priority"] = priority
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body


def checked(response: httpx.Response) -> Any:
    """The decoded JSON of a successful answer; ApiError with the API's ``detail`` otherwise."""
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = str(body.get("detail", body)) if isinstance(body, dict) else str(body)
        except ValueError:
            body, detail = None, response.text.strip() or response.reason_phrase
        raise ApiError(response.status_code, detail, body)
    return response.json()


def checked_bytes(response: httpx.Response) -> bytes:
    if response.status_code >= 400:
        checked(response)
    return response.content


def inline_bytes(output: Output) -> bytes | None:
    """The bytes of an output that carries them (base64 ``data``); None when they must be fetched."""
    if output.type == "base64" and output.data is not None:
        return base64.b64decode(output.data)
    return None


def signature(status: Status) -> tuple[Any, ...]:
    """What a progress callback cares about: it is called again only when this changes."""
    return status.status, status.queue_position, status.progress, status.cancel_requested


def output_path(out_dir: Path, output: Output, taken: set[str]) -> Path:
    """A file in ``out_dir`` named after the output (never outside it, never twice the same)."""
    name = os.path.basename(output.filename.replace("\\", "/")) or "output"
    if name in taken:
        name = f"{output.index if output.index is not None else len(taken)}_{name}"
    taken.add(name)
    return out_dir / name


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path
