"""A job's ``output`` field: where its outputs go (``s3``) and in which image format, checked at submit.

    "output": {"s3": {"bucket": "b", "prefix": "p/q", "presign": true | <seconds>},
               "format": "webp" | "jpeg" | "png", "quality": 1-100}

The bucket must be on OUTPUT_S3_BUCKETS (omitted: BUCKET_NAME, which must be listed too); the prefix is a client's
and hostile (``store.output_keys``); ``presign`` at most OUTPUT_PRESIGN_MAX_S. What passes is stored in the job's
options as ``{"s3": {"bucket", "prefix", "presign_s"}, "format", "quality"}`` for the executor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from store.output_keys import BadKey, check_prefix
from transports.errors import InvalidRequest

Format = Literal["webp", "jpeg", "png"]
Quality = Annotated[int, Meta(ge=1, le=100, description="1-100, for webp and jpeg (default: Pillow's)")]


class S3Destination(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A bucket of the operator's allow-list (OUTPUT_S3_BUCKETS) and a key prefix."""

    bucket: Annotated[str, Meta(max_length=255, description="default: BUCKET_NAME")] | None = None
    prefix: Annotated[str, Meta(max_length=1024, description="keys: <prefix>/<job_id>/<file name>")] = ""
    presign: Annotated[bool | int | None, Meta(description="true or seconds: presigned GET URLs")] = None


class OutputBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a job's outputs go and in which format."""

    s3: S3Destination | None = None
    format: Annotated[Format | None, Meta(description="convert image outputs (not animated ones)")] = None
    quality: Quality | None = None


class OutputRules(msgspec.Struct, frozen=True, kw_only=True):
    """The settings a job's ``output`` is checked against."""

    buckets: frozenset[str] = frozenset()  # OUTPUT_S3_BUCKETS
    default_bucket: str = "comfyui-outputs"  # BUCKET_NAME
    presign_default_s: int = 3600  # BUCKET_URL_EXPIRY_S
    presign_max_s: int = 7 * 86400  # OUTPUT_PRESIGN_MAX_S


def _short(value: str) -> str:
    return repr(value if len(value) <= 64 else value[:64] + "...")


def _presign(presign: bool | int | None, rules: OutputRules) -> int | None:
    if presign is None or presign is False:
        return None
    seconds = min(rules.presign_default_s, rules.presign_max_s) if presign is True else presign
    if not 1 <= seconds <= rules.presign_max_s:
        raise InvalidRequest(f"output.s3.presign must be true or 1 to {rules.presign_max_s} seconds "
                             "(OUTPUT_PRESIGN_MAX_S)", field="output.s3.presign")
    return seconds


def _s3(dest: S3Destination, rules: OutputRules) -> dict[str, Any]:
    bucket = rules.default_bucket if dest.bucket is None else dest.bucket
    if bucket not in rules.buckets:
        raise InvalidRequest(f"output.s3.bucket {_short(bucket)} is not a bucket this daemon may write to "
                             "(OUTPUT_S3_BUCKETS)", field="output.s3.bucket")
    try:
        prefix = check_prefix(dest.prefix)
    except BadKey as exc:
        raise InvalidRequest(f"output.s3.prefix {_short(dest.prefix)} {exc}", field="output.s3.prefix") from None
    return {"bucket": bucket, "prefix": prefix, "presign_s": _presign(dest.presign, rules)}


def check_output(body: OutputBody | None, rules: OutputRules) -> dict[str, Any] | None:
    """The job's output options as the executor reads them; InvalidRequest naming the field when refused."""
    if body is None:
        return None
    if body.quality is not None and body.format not in ("webp", "jpeg"):
        raise InvalidRequest("output.quality applies only with output.format webp or jpeg", field="output.quality")
    options: dict[str, Any] = {}
    if body.s3 is not None:
        options["s3"] = _s3(body.s3, rules)
    if body.format is not None:
        options["format"] = body.format
    if body.quality is not None:
        options["quality"] = body.quality
    return options or None


__all__ = ["OutputBody", "OutputRules", "S3Destination", "check_output"]
