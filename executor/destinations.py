"""A job's outputs where and how it asked (its ``output`` option, checked at submit by the transport): image
outputs converted (``format``, ``quality``), then uploaded to the job's own bucket (``s3``) or given to the
executor's sink (the store, or BUCKET_NAME).

The bucket is checked again against OUTPUT_S3_BUCKETS here (the list may have changed since the job was
accepted), and every key against the key rules (``store.output_keys``). The daemon's S3 credentials are used.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from config.settings import Settings
from executor.convert import convert_all
from executor.errors import InvalidInput
from executor.outputs import Collected
from executor.storage import OutputSink, Stored, build_result, entry, object_key, unique_names
from store import Job
from store.output_keys import bucket_list
from store.s3 import S3Uploader


@functools.lru_cache(maxsize=2)
def _uploader(settings: Settings) -> S3Uploader:
    return S3Uploader(settings)  # boto3 is loaded only when a job names a bucket


async def deliver(settings: Settings, sink: OutputSink, job: Job, collected: Collected) -> Stored:
    """The job's outputs stored or uploaded, converted first when it asked for a format."""
    output: dict[str, Any] = job.options.get("output") or {}
    if fmt := output.get("format"):
        collected = await asyncio.to_thread(convert_all, collected, fmt, output.get("quality"))
    if s3 := output.get("s3"):
        return await asyncio.to_thread(_to_bucket, settings, job.id, collected, s3)
    return await sink.put(job.id, collected)


def _to_bucket(settings: Settings, job_id: str, collected: Collected, s3: dict[str, Any]) -> Stored:
    bucket, prefix, presign_s = s3["bucket"], s3.get("prefix", ""), s3.get("presign_s")
    if bucket not in bucket_list(settings.output_s3_buckets):
        raise InvalidInput(f"output.s3.bucket {bucket!r} is no longer one this daemon may write to "
                           "(OUTPUT_S3_BUCKETS)", field="output.s3.bucket")
    if presign_s is not None:
        presign_s = min(int(presign_s), settings.output_presign_max_s)
    uploader = _uploader(settings)
    names = unique_names(collected.files)
    keys = [object_key(uploader, job_id, f, n, i, prefix) for i, (f, n) in enumerate(zip(collected.files, names,
                                                                                            strict=True))]
    entries = []
    for fetched, name, key in zip(collected.files, names, keys, strict=True):
        uploader.put(bucket, key, fetched.data, fetched.content_type)
        url = uploader.object_url(bucket, key)
        extra: dict[str, Any] = {"bucket": bucket, "key": key, "url": url}
        if presign_s is not None:
            extra |= {"data": uploader.presign(bucket, key, presign_s), "expires_at": time.time() + presign_s}
        entries.append(entry(fetched, name, type="s3_url", **{"data": url, **extra}))
    return Stored(result=build_result(collected, entries), files=[])


__all__ = ["deliver"]
