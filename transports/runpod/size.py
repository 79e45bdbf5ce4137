"""RunPod refuses large results (10 MB from /run, 20 MB from /runsync): keep ours under RUNPOD_MAX_OUTPUT_MB.

A result over the limit has its stored outputs uploaded to S3 when BUCKET_ENDPOINT_URL is set (entries become
``type: s3_url``); without S3 the job fails with a message naming the size, the limit and the fix.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from store import JobInfo, OutputFile
from store.s3 import S3Uploader
from transports.worker_output import failure, success

MB = 1_000_000  # as RunPod (and the SDK's own size tip) count

_encode = msgspec.json.Encoder().encode


def offload(uploader: S3Uploader, job: JobInfo, stored: list[OutputFile]) -> dict[str, Any]:
    """The job's result with every stored output uploaded and referred to by URL."""
    files = {out.index: out for out in stored}
    result: dict[str, Any] = {}
    for key, entries in (job.result or {}).items():
        if isinstance(entries, list):
            entries = [_uploaded(uploader, job.id, entry, files) for entry in entries]
        result[key] = entries
    return result


def _uploaded(uploader: S3Uploader, job_id: str, entry: Any, files: dict[int, OutputFile]) -> Any:
    stored = isinstance(entry, dict) and entry.get("type") == "base64"
    out = files.get(entry.get("output_index")) if stored else None
    if out is None:
        return entry
    key, url = uploader.upload(job_id, out.filename, out.data, out.content_type)
    kept = {k: v for k, v in entry.items() if k != "output_index"}
    return {**kept, "type": "s3_url", "data": url, "key": key}


class OutputLimit:
    def __init__(self, max_mb: float, uploader: S3Uploader | None) -> None:
        self.max_mb = max_mb
        self.uploader = uploader

    def fits(self, output: dict[str, Any]) -> bool:
        return len(_encode(output)) <= self.max_mb * MB

    async def output(self, job: JobInfo, stored: list[OutputFile]) -> dict[str, Any]:
        """The completed job's output, inline if it fits, else through S3, else a failure saying why."""
        inline = success(job, {out.index: out.data for out in stored})
        if self.fits(inline):
            return inline
        size = len(_encode(inline))
        if self.uploader is None:
            return self.too_large(job.id, size, through_s3=False)
        result = await asyncio.to_thread(offload, self.uploader, job, stored)  # boto3 blocks
        linked = success(msgspec.structs.replace(job, result=result), None)
        return linked if self.fits(linked) else self.too_large(job.id, len(_encode(linked)), through_s3=True)

    def too_large(self, job_id: str, size: int, *, through_s3: bool) -> dict[str, Any]:
        if through_s3:
            fix = "its outputs are already in S3; the rest (e.g. text outputs) is too big: make it smaller"
        else:
            fix = ("set BUCKET_ENDPOINT_URL (and BUCKET_*) to get S3 URLs instead of base64, or raise "
                   "RUNPOD_MAX_OUTPUT_MB if you only use /runsync (RunPod's limit there is 20 MB)")
        message = (f"the result is {size / MB:.1f} MB, over RUNPOD_MAX_OUTPUT_MB={self.max_mb:g} "
                   f"(RunPod refuses results over 10 MB from /run): {fix}")
        details = {"type": "output_too_large", "message": message, "size_bytes": size,
                   "limit_bytes": int(self.max_mb * MB)}
        return failure(message, details, job_id)
