"""Output bytes kept in S3 instead of the job store (BUCKET_* settings).

Used by the executor (every output, when BUCKET_ENDPOINT_URL is set) and by the RunPod transport (results too
large to return inline). Keys: OUTPUT_KEY_TEMPLATE, by default ``BUCKET_PREFIX/<job id>/<filename>``;
URLs presigned unless BUCKET_PUBLIC_URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from config.settings import Settings
from store.output_keys import render_key


class S3Uploader:
    """Blocking boto3 calls: run them in a thread."""

    def __init__(self, settings: Settings) -> None:
        import boto3  # heavy: only when S3 is configured
        from botocore.config import Config

        self.settings = settings
        self.client: Any = boto3.client(
            "s3", endpoint_url=settings.bucket_endpoint_url, region_name=settings.bucket_region,
            aws_access_key_id=settings.bucket_access_key_id,
            aws_secret_access_key=settings.bucket_secret_access_key,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}))

    def key(self, job_id: str, filename: str, *, prefix: str | None = None, index: int = 0,
            node_id: str = "") -> str:
        """The key of one output (OUTPUT_KEY_TEMPLATE; the prefix defaults to BUCKET_PREFIX). Raises BadKey."""
        prefix = self.settings.bucket_prefix.strip("/") if prefix is None else prefix
        return render_key(self.settings.output_key_template, prefix=prefix, job_id=job_id, filename=filename,
                          index=index, node_id=node_id)

    def url(self, key: str) -> str:
        if self.settings.bucket_public_url:
            return f"{self.settings.bucket_public_url.rstrip('/')}/{key}"
        return self.presign(self.settings.bucket_name, key, self.settings.bucket_url_expiry_s)

    def object_url(self, bucket: str, key: str) -> str:
        """The object's unsigned URL (path style): readable by whoever the bucket's policy lets in."""
        base = str(self.client.meta.endpoint_url).rstrip("/")
        return f"{base}/{bucket}/{quote(key)}"

    def presign(self, bucket: str, key: str, expires_s: int) -> str:
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s))

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def upload(self, job_id: str, filename: str, data: bytes, content_type: str, *, index: int = 0,
               node_id: str = "") -> tuple[str, str]:
        """Put one object in BUCKET_NAME; returns its key and the URL a client fetches it from. Raises BadKey."""
        key = self.key(job_id, filename, index=index, node_id=node_id)
        self.put(self.settings.bucket_name, key, data, content_type)
        return key, self.url(key)


def make_uploader(settings: Settings) -> S3Uploader | None:
    return S3Uploader(settings) if settings.bucket_endpoint_url else None
