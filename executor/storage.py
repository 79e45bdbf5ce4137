"""Where output bytes go: store blobs (``type: base64`` entries) or S3 (``type: s3_url`` entries).

Both build the result of docs/internals.md: ``images`` always; ``videos``, ``audio``, ``files`` and ``text``
when non-empty.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import msgspec

from config.settings import Settings
from executor.errors import InvalidInput
from executor.outputs import Collected, Fetched
from store import OutputFile
from store.output_keys import BadKey
from store.s3 import S3Uploader


class Stored(msgspec.Struct, frozen=True):
    result: dict[str, Any]
    files: list[OutputFile]  # bytes for the store (empty with S3)


class OutputSink(Protocol):
    async def put(self, job_id: str, collected: Collected) -> Stored: ...


def category(content_type: str) -> str:
    major = content_type.split("/", 1)[0]
    return {"image": "images", "video": "videos", "audio": "audio"}.get(major, "files")


def unique_names(files: list[Fetched]) -> list[str]:
    """Each file's name in the result and in S3: its filename, prefixed by its index when a name repeats."""
    names, seen = [], set()
    for index, fetched in enumerate(files):
        name = fetched.ref.filename
        while name in seen:  # the prefixed name may be taken too (another output named 2_x.png)
            name = f"{index}_{name}"
        seen.add(name)
        names.append(name)
    return names


def build_result(collected: Collected, entries: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {"images": []}
    for fetched, entry in zip(collected.files, entries, strict=True):
        result.setdefault(category(fetched.content_type), []).append(entry)
    if collected.texts:
        result["text"] = [{"node_id": t.node_id, "text": t.text} for t in collected.texts]
    return result


def object_key(uploader: S3Uploader, job_id: str, fetched: Fetched, name: str, index: int,
               prefix: str | None = None) -> str:
    """The output's key (OUTPUT_KEY_TEMPLATE); a key that is not safe fails the job (``invalid_input``)."""
    try:
        return uploader.key(job_id, name, prefix=prefix, index=index, node_id=fetched.ref.node_id)
    except BadKey as exc:
        raise InvalidInput(f"output {name!r} of node {fetched.ref.node_id} has no safe S3 key: the key {exc}",
                           node_id=fetched.ref.node_id, filename=name) from None


def entry(fetched: Fetched, name: str, **extra: Any) -> dict[str, Any]:
    return {"filename": name, **extra, "node_id": fetched.ref.node_id, "content_type": fetched.content_type,
            "subfolder": fetched.ref.subfolder}


class StoreSink:
    """Bytes become job_outputs rows; entries refer to them by ``output_index``."""

    async def put(self, job_id: str, collected: Collected) -> Stored:
        named = list(enumerate(zip(collected.files, unique_names(collected.files), strict=True)))
        entries = [entry(f, n, type="base64", output_index=i) for i, (f, n) in named]
        files = [OutputFile(index=i, filename=n, content_type=f.content_type, data=f.data)
                 for i, (f, n) in named]
        return Stored(result=build_result(collected, entries), files=files)


class S3Sink:
    """Bytes go to ``s3://BUCKET_NAME/<key>`` (OUTPUT_KEY_TEMPLATE, by default ``BUCKET_PREFIX/<job id>/<filename>``);
    entries carry a URL in ``data``."""

    def __init__(self, settings: Settings) -> None:
        self.uploader = S3Uploader(settings)

    def _upload_all(self, job_id: str, collected: Collected) -> list[dict[str, Any]]:
        entries = []
        for index, (fetched, name) in enumerate(zip(collected.files, unique_names(collected.files), strict=True)):
            key = object_key(self.uploader, job_id, fetched, name, index)
            self.uploader.put(self.uploader.settings.bucket_name, key, fetched.data, fetched.content_type)
            entries.append(entry(fetched, name, type="s3_url", data=self.uploader.url(key), key=key))
        return entries

    async def put(self, job_id: str, collected: Collected) -> Stored:
        entries = await asyncio.to_thread(self._upload_all, job_id, collected)  # boto3 is blocking
        return Stored(result=build_result(collected, entries), files=[])


def make_sink(settings: Settings) -> OutputSink:
    return S3Sink(settings) if settings.bucket_endpoint_url else StoreSink()
