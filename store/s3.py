"""Output bytes kept in S3 instead of the job store (BUCKET_* settings).

Used by the executor (every output, when BUCKET_ENDPOINT_URL is set) and by the RunPod transport (results too
large to return inline). Keys: ``BUCKET_PREFIX/<job id>/<filename>``; URLs presigned unless BUCKET_PUBLIC_URL.
"""

from __future__ import annotations

import posixpath
from typing import Any

from config.settings import Settings


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

    def key(self, job_id: str, filename: str) -> str:
        return posixpath.join(self.settings.bucket_prefix.strip("/"), job_id, filename).lstrip("/")

    def url(self, key: str) -> str:
        if self.settings.bucket_public_url:
            return f"{self.settings.bucket_public_url.rstrip('/')}/{key}"
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.settings.bucket_name, "Key": key},
            ExpiresIn=self.settings.bucket_url_expiry_s))

    def upload(self, job_id: str, filename: str, data: bytes, content_type: str) -> tuple[str, str]:
        """Put one object; returns its key and the URL a client fetches it from."""
        key = self.key(job_id, filename)
        self.client.put_object(Bucket=self.settings.bucket_name, Key=key, Body=data, ContentType=content_type)
        return key, self.url(key)


def make_uploader(settings: Settings) -> S3Uploader | None:
    return S3Uploader(settings) if settings.bucket_endpoint_url else None
